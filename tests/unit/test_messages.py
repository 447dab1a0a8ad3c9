"""Customer message templates: locale fallback, sandboxing, safe context, real text."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import MappingError
from bridge.mapping import load_mappings, packaged_mappings_dir
from bridge.messages import SAFE_CONTEXT, Messages, locale_candidates, render

PACKAGED = packaged_mappings_dir() / "templates"
NAMES = ["acknowledgement", "in_progress", "in_qa", "fix_ready", "released", "reopened",
         "status_update"]


def root_with(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "templates"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


# -- locale fallback ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected_dir"),
    [("de", "de"), ("de-CH", "de"), ("de_AT", "de"), ("DE", "de"), ("en-US", "en"),
     ("pt-BR", "en"), ("fr", "en"), (None, "en"), ("", "en")],
)
def test_packaged_templates_fall_back_to_language_then_english(locale, expected_dir):
    messages = Messages([PACKAGED])
    assert messages.template_name("in_qa", locale) == f"{expected_dir}/in_qa.txt.j2"


def test_exact_locale_beats_language_and_user_templates_beat_packaged(tmp_path):
    root = root_with(tmp_path, {"de-CH/in_qa.txt.j2": "Grüezi {{ subject }}",
                                "en/in_qa.txt.j2": "Team wording for {{ subject }}"})
    messages = Messages([root, PACKAGED])
    assert messages.render("in_qa", "de-ch", subject="X") == "Grüezi X\n"
    assert messages.render("in_qa", "de-DE", subject="X").startswith("Guten Tag,")  # packaged de
    assert messages.render("in_qa", "ja", subject="X") == "Team wording for X\n"
    # Templates the team did not write come from the package.
    assert messages.render("released", "en", subject="X").startswith("Hello,")
    assert messages.template_file("in_qa", "de-CH") == root / "de-CH" / "in_qa.txt.j2"


def test_default_locale_is_the_last_fallback(tmp_path):
    root = root_with(tmp_path, {"de/ack.txt.j2": "Danke"})
    assert Messages([root], default_locale="de").render("ack", "fr") == "Danke\n"


@given(st.lists(st.sampled_from(["de", "CH", "Latn", "pt", "BR", "x"]), min_size=1, max_size=4),
       st.sampled_from(["-", "_"]))
def test_locale_candidates_go_from_specific_to_general(parts, sep):
    candidates = locale_candidates(sep.join(parts), "en")
    assert candidates[0] == "-".join(parts).lower()
    assert candidates[-1] == "en"
    for longer, shorter in zip(candidates, candidates[1:-1]):
        assert longer.startswith(shorter + "-")
    assert len(candidates) == len(set(candidates))


# -- errors name the template file --------------------------------------------------------------


def test_missing_template_is_a_mapping_error_naming_it():
    with pytest.raises(MappingError) as err:
        Messages([PACKAGED]).render("no_such_message", "de")
    assert "no_such_message.txt.j2" in str(err.value)
    assert "de, en" in str(err.value)


def test_syntax_error_names_file_and_line(tmp_path):
    root = root_with(tmp_path, {"en/in_qa.txt.j2": "Hello\n{% if subject %}\nno end\n"})
    messages = Messages([root])
    with pytest.raises(MappingError) as err:
        messages.render("in_qa", "en", subject="X")
    assert err.value.file == str(root / "en" / "in_qa.txt.j2")
    assert err.value.key.startswith("line ")
    with pytest.raises(MappingError) as err:
        messages.check()
    assert err.value.file == str(root / "en" / "in_qa.txt.j2")


def test_an_undefined_name_in_a_template_is_an_error_not_blank_text(tmp_path):
    root = root_with(tmp_path, {"en/in_qa.txt.j2": "Version {{ verison }}"})
    with pytest.raises(MappingError, match="UndefinedError"):
        Messages([root]).render("in_qa", "en", version="2.4")


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__ }}",
        "{{ subject.__class__.__mro__[1].__subclasses__() }}",
        "{{ subject.__init__.__globals__ }}",
        "{{ (subject|attr('__class__')) }}",
    ],
)
def test_the_sandbox_refuses_to_walk_into_python(tmp_path, body):
    root = root_with(tmp_path, {"en/evil.txt.j2": body})
    with pytest.raises(MappingError) as err:
        Messages([root]).render("evil", "en", subject="X")
    assert err.value.file == str(root / "en" / "evil.txt.j2")
    assert "SecurityError" in str(err.value) or "UndefinedError" in str(err.value)


# -- only customer-safe context -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["comment", "jira_comments", "sentry_issue", "description"])
def test_names_outside_the_safe_context_are_refused(name):
    with pytest.raises(TypeError, match=name):
        render("in_qa", "en", subject="X", **{name: "internal text"})


def test_objects_are_refused_even_under_a_safe_name():
    with pytest.raises(TypeError, match="version"):
        render("fix_ready", "en", subject="X", version=object())


def test_the_jira_key_is_shown_only_when_the_mappings_allow_it():
    hidden = Messages([PACKAGED]).render("acknowledgement", "en", subject="X", jira_key="SUP-77")
    shown = Messages([PACKAGED], show_jira_key=True).render(
        "acknowledgement", "en", subject="X", jira_key="SUP-77")
    assert "SUP-77" not in hidden
    assert "reference for this problem is SUP-77" in shown


def test_mappings_carry_the_show_key_setting_into_their_templates(tmp_path):
    directory = tmp_path / "mappings"
    directory.mkdir()
    (directory / "default.yaml").write_text("messages: {show_jira_key_to_customer: true}\n")
    text = load_mappings(directory).templates.render("acknowledgement", "de", subject="X",
                                                      jira_key="SUP-5")
    assert "Unsere Referenz für dieses Problem lautet SUP-5." in text


# -- the packaged text ------------------------------------------------------------------------------


FULL = dict(ticket_id="4711", subject="Nightly export fails", customer_name="Ana",
            status="in_qa", severity="High", version="2.4.1", release_date=date(2024, 5, 3),
            next_update=datetime(2024, 5, 3, 14, 0, tzinfo=timezone(timedelta(hours=2))),
            first_response_due=datetime(2024, 5, 2, 9, 0, tzinfo=timezone.utc),
            jira_key="SUP-1")


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("name", NAMES)
def test_every_packaged_template_renders_with_full_and_minimal_context(locale, name):
    messages = Messages([PACKAGED])
    full = messages.render(name, locale, **FULL)
    minimal = messages.render(name, locale, subject="Nightly export fails")
    greeting = "Hello" if locale == "en" else "Guten Tag"
    for text in (full, minimal):
        assert text.startswith(greeting)
        assert "Nightly export fails" in text
        assert "None" not in text and "SUP-1" not in text
        assert "\n\n\n" not in text
        assert text.endswith("\n") and not text.endswith("\n\n")
    assert full.startswith(f"{greeting} Ana,")


def test_release_details_appear_when_known():
    text = render("fix_ready", "en", subject="X", version="2.4.1", release_date=date(2024, 5, 3))
    assert "version 2.4.1, planned for 2024-05-03" in text
    assert "in Version 2.4.1" in render("released", "de", subject="X", version="2.4.1")


def test_times_are_written_with_their_offset():
    text = render("in_progress", "en", subject="X", next_update=FULL["next_update"])
    assert "by 2024-05-03 14:00 UTC+02:00" in text


def test_status_update_words_the_announced_state_per_locale():
    assert "quality assurance" in render("status_update", "en", subject="X", status="in_qa")
    assert "Qualitätssicherung" in render("status_update", "de", subject="X", status="in_qa")
    assert "still working on it" in render("status_update", "en", subject="X")


@given(subject=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1)
       .filter(lambda s: s.strip() == s))
def test_the_subject_is_printed_verbatim_never_evaluated_or_escaped(subject):
    # Autoescape is off (plain text) and values are never parsed as template code.
    for locale in ("en", "de"):
        assert subject in render("in_progress", locale, subject=subject)


def test_safe_context_has_no_internal_names():
    forbidden = {"comment", "comments", "sentry", "description", "issue", "body", "ticket"}
    assert not forbidden & set(SAFE_CONTEXT)
