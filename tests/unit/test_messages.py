"""Customer message templates: locale fallback, sandboxing, safe context, real text."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bridge.errors import MappingError
from bridge.mapping import load_mappings, packaged_mappings_dir
from bridge.messages import SAFE_CONTEXT, Messages, customer_date, customer_time, locale_candidates, render

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


def test_a_chosen_template_is_reloaded_when_edited_and_looked_for_again_when_removed(tmp_path):
    import os

    root = root_with(tmp_path, {"de-CH/in_qa.txt.j2": "Grüezi {{ subject }}", "de/in_qa.txt.j2": "Hallo"})
    now = [100.0]
    messages = Messages([root], recheck_s=2.0, clock=lambda: now[0])
    assert messages.render("in_qa", "de-CH", subject="X") == "Grüezi X\n"
    chosen = root / "de-CH" / "in_qa.txt.j2"
    chosen.write_text("Grüessech {{ subject }}", encoding="utf-8")
    later = chosen.stat().st_mtime + 5  # Jinja reloads on a changed modification time
    os.utime(chosen, (later, later))
    now[0] += 1.0  # within recheck_s the loaded template is trusted: no stat per message
    assert messages.render("in_qa", "de-CH", subject="X") == "Grüezi X\n"
    now[0] += 1.5  # past it, the file is looked at and the edit shows
    assert messages.render("in_qa", "de-CH", subject="X") == "Grüessech X\n"
    chosen.unlink()
    now[0] += 2.5
    assert messages.render("in_qa", "de-CH", subject="X") == "Hallo\n"  # the language's own
    (root / "de" / "in_qa.txt.j2").unlink()
    now[0] += 2.5
    with pytest.raises(MappingError, match="template not found"):
        messages.render("in_qa", "de-CH", subject="X")


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
    assert "version 2.4.1, planned for May 3, 2024" in text
    assert "in Version 2.4.1" in render("released", "de", subject="X", version="2.4.1")
    assert "3. Mai 2024" in render("fix_ready", "de", subject="X", version="2.4.1", release_date=date(2024, 5, 3))


def test_times_are_written_in_the_customers_words_with_their_zone():
    text = render("in_progress", "en", subject="X", next_update=FULL["next_update"])
    assert "by Friday, May 3, 2024, 2:00\u202fPM GMT+02:00." in text
    text = render("in_progress", "de", subject="X", next_update=FULL["next_update"])
    assert "bis Freitag, 3. Mai 2024, 14:00 GMT+02:00." in text


# -- customer_time: the one customer date format ------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "Friday, May 3, 2024, 2:00\u202fPM Central European Summer Time (GMT+02:00)"),
        ("en-GB", "Friday, 3 May 2024, 14:00 Central European Summer Time (GMT+02:00)"),
        ("de", "Freitag, 3. Mai 2024, 14:00 Mitteleuropäische Sommerzeit (GMT+02:00)"),
        ("de-CH", "Freitag, 3. Mai 2024, 14:00 Mitteleuropäische Sommerzeit (GMT+02:00)"),
        ("DE_at", "Freitag, 3. Mai 2024, 14:00 Mitteleuropäische Sommerzeit (GMT+02:00)"),
        (None, "Friday, May 3, 2024, 2:00\u202fPM Central European Summer Time (GMT+02:00)"),
        ("xx-unknown", "Friday, May 3, 2024, 2:00\u202fPM Central European Summer Time (GMT+02:00)"),
    ],
)
def test_customer_time_per_locale(locale, expected):
    # CLDR's own patterns: US English keeps "2:00 PM" together with a narrow no-break space.
    assert customer_time(datetime(2024, 5, 3, 14, 0, tzinfo=BERLIN), locale) == expected


def test_customer_time_of_a_fixed_offset_or_utc_and_none():
    assert customer_time(datetime(2024, 5, 3, 9, 0, tzinfo=timezone(timedelta(hours=-5))), "en") == \
        "Friday, May 3, 2024, 9:00\u202fAM GMT-05:00"
    assert customer_time(datetime(2024, 5, 3, 9, 0, tzinfo=timezone.utc), "de") == \
        "Freitag, 3. Mai 2024, 09:00 Koordinierte Weltzeit (GMT+00:00)"
    assert customer_time(None, "en") is None and customer_date(None, "de") is None


def test_customer_time_refuses_a_time_without_a_zone():
    with pytest.raises(ValueError, match="time zone"):
        customer_time(datetime(2024, 5, 3, 14, 0), "en")


def test_the_repeated_hour_is_told_apart():
    # 01:30 happens twice in Denver on 2024-11-03; the customer must know which one.
    first = datetime(2024, 11, 3, 1, 30, tzinfo=ZoneInfo("America/Denver"))
    second = first.replace(fold=1)
    assert customer_time(first, "en").endswith("Mountain Daylight Time (GMT-06:00)")
    assert customer_time(second, "en").endswith("Mountain Standard Time (GMT-07:00)")


_ZONES = ["Europe/Berlin", "America/Denver", "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe",
          "Pacific/Chatham", "Europe/London", "UTC"]
_LOCALES = ["en", "de", "en-GB", "de-CH", "fr", "pt-BR", "ja", None, "zz"]


def _gmt(value: datetime) -> str:
    minutes = int(value.utcoffset().total_seconds() // 60)
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@given(moment=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1),
                           timezones=st.sampled_from(_ZONES).map(ZoneInfo)),
       locale=st.sampled_from(_LOCALES))
def test_customer_time_always_states_the_offset_and_never_depends_on_the_region_alone(moment, locale):
    text = customer_time(moment, locale)
    offset = _gmt(moment)
    # The UTC offset is always there, so the text names exactly one instant.
    assert offset in text
    assert str(moment.year) in text
    # A region CLDR does not know reads like its language; an unknown language like English.
    language = (locale or "en").split("-")[0]
    assert customer_time(moment, f"{language}-QQ") == customer_time(moment, language)
    assert customer_time(moment, "qq") == customer_time(moment, "en")


@given(moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1),
                           timezones=st.sampled_from(_ZONES).map(ZoneInfo)),
       locale=st.sampled_from(_LOCALES))
def test_different_instants_at_the_same_wall_time_read_differently(moment, locale):
    other = moment.replace(fold=1 - moment.fold)
    if other.utcoffset() != moment.utcoffset():  # only in a repeated or skipped hour
        assert customer_time(moment, locale) != customer_time(other, locale)


@given(moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1),
                           timezones=st.sampled_from(_ZONES).map(ZoneInfo)),
       elsewhere=st.sampled_from(_ZONES).map(ZoneInfo), locale=st.sampled_from(_LOCALES))
@example(moment=datetime(2024, 11, 3, 1, 30, tzinfo=ZoneInfo("America/Denver"), fold=1),
         elsewhere=ZoneInfo("UTC"), locale="en")  # the repeated hour: the fold tells them apart
@example(moment=datetime(2024, 11, 3, 1, 30, tzinfo=ZoneInfo("America/Denver")),
         elsewhere=ZoneInfo("Europe/Berlin"), locale="de")
def test_a_remembered_time_is_the_one_asked_for_not_an_equal_instant(moment, elsewhere, locale):
    # Aware datetimes at one instant compare equal whatever their zone, and within a zone
    # whatever their fold: what customer_time remembers must not hand one the other's words.
    from bridge.messages import _customer_time

    _customer_time.cache_clear()
    fresh = customer_time(moment, locale)
    same_instant = moment.astimezone(elsewhere)
    other_fold = moment.replace(fold=1 - moment.fold)
    _customer_time.cache_clear()
    customer_time(same_instant, locale)
    customer_time(other_fold, locale)
    assert customer_time(moment, locale) == fresh
    assert customer_date(moment, locale) == customer_date(moment.date(), locale)


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
