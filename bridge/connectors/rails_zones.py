"""Ruby on Rails time zone names -> IANA time zones, for Freshdesk contacts.

Freshdesk keeps a contact's ``time_zone`` as a Rails ``ActiveSupport::TimeZone`` name
("Eastern Time (US & Canada)", "Chennai", "London"), not as an IANA name; the bridge's
business-hours calendars need IANA names (``zoneinfo``). :func:`iana_zone` turns the one
into the other, so a Freshdesk requester's zone can set the clocks of a tier whose hours are
the customer's, as Zendesk's ``iana_time_zone`` does.

:data:`RAILS_TO_IANA` is ``ActiveSupport::TimeZone::MAPPING`` from Rails'
``activesupport/lib/active_support/values/time_zone.rb`` (rails/rails at 2a2db1e8d6d1,
2026-08-22): all 154 names, in Rails' order, with Rails' IANA zone for each. Rails maps
several names to one zone ("Chennai", "Kolkata", "Mumbai", "New Delhi" -> Asia/Kolkata).
:data:`RENAMED` holds names earlier Rails releases had in that table before renaming them
(git history of the same file), which a long-lived Freshdesk account may still hold.
"""

from __future__ import annotations

from types import MappingProxyType

from bridge.policy.profiles import known_zone

__all__ = ["RAILS_TO_IANA", "RENAMED", "iana_zone"]

#: ``ActiveSupport::TimeZone::MAPPING``: Rails zone name -> IANA zone.
RAILS_TO_IANA = MappingProxyType({
    "International Date Line West": "Etc/GMT+12",
    "Midway Island":                "Pacific/Midway",
    "American Samoa":               "Pacific/Pago_Pago",
    "Hawaii":                       "Pacific/Honolulu",
    "Alaska":                       "America/Juneau",
    "Pacific Time (US & Canada)":   "America/Los_Angeles",
    "Pacific Time (Canada)":        "America/Vancouver",
    "Tijuana":                      "America/Tijuana",
    "Mountain Time (US & Canada)":  "America/Denver",
    "Alberta":                      "America/Edmonton",
    "Arizona":                      "America/Phoenix",
    "Chihuahua":                    "America/Chihuahua",
    "Mazatlan":                     "America/Mazatlan",
    "Central Time (US & Canada)":   "America/Chicago",
    "Saskatchewan":                 "America/Regina",
    "Guadalajara":                  "America/Mexico_City",
    "Mexico City":                  "America/Mexico_City",
    "Monterrey":                    "America/Monterrey",
    "Central America":              "America/Guatemala",
    "Eastern Time (US & Canada)":   "America/New_York",
    "Indiana (East)":               "America/Indiana/Indianapolis",
    "Bogota":                       "America/Bogota",
    "Lima":                         "America/Lima",
    "Quito":                        "America/Lima",
    "Atlantic Time (Canada)":       "America/Halifax",
    "Caracas":                      "America/Caracas",
    "La Paz":                       "America/La_Paz",
    "Santiago":                     "America/Santiago",
    "Asuncion":                     "America/Asuncion",
    "Newfoundland":                 "America/St_Johns",
    "Brasilia":                     "America/Sao_Paulo",
    "Buenos Aires":                 "America/Argentina/Buenos_Aires",
    "Montevideo":                   "America/Montevideo",
    "Georgetown":                   "America/Guyana",
    "Puerto Rico":                  "America/Puerto_Rico",
    "Greenland":                    "America/Nuuk",
    "Mid-Atlantic":                 "Atlantic/South_Georgia",
    "Azores":                       "Atlantic/Azores",
    "Cape Verde Is.":               "Atlantic/Cape_Verde",
    "Dublin":                       "Europe/Dublin",
    "Edinburgh":                    "Europe/London",
    "Lisbon":                       "Europe/Lisbon",
    "London":                       "Europe/London",
    "Casablanca":                   "Africa/Casablanca",
    "Monrovia":                     "Africa/Monrovia",
    "UTC":                          "Etc/UTC",
    "Belgrade":                     "Europe/Belgrade",
    "Bratislava":                   "Europe/Bratislava",
    "Budapest":                     "Europe/Budapest",
    "Ljubljana":                    "Europe/Ljubljana",
    "Prague":                       "Europe/Prague",
    "Sarajevo":                     "Europe/Sarajevo",
    "Skopje":                       "Europe/Skopje",
    "Warsaw":                       "Europe/Warsaw",
    "Zagreb":                       "Europe/Zagreb",
    "Brussels":                     "Europe/Brussels",
    "Copenhagen":                   "Europe/Copenhagen",
    "Madrid":                       "Europe/Madrid",
    "Paris":                        "Europe/Paris",
    "Amsterdam":                    "Europe/Amsterdam",
    "Berlin":                       "Europe/Berlin",
    "Bern":                         "Europe/Zurich",
    "Zurich":                       "Europe/Zurich",
    "Rome":                         "Europe/Rome",
    "Stockholm":                    "Europe/Stockholm",
    "Vienna":                       "Europe/Vienna",
    "West Central Africa":          "Africa/Algiers",
    "Bucharest":                    "Europe/Bucharest",
    "Cairo":                        "Africa/Cairo",
    "Helsinki":                     "Europe/Helsinki",
    "Kyiv":                         "Europe/Kyiv",
    "Riga":                         "Europe/Riga",
    "Sofia":                        "Europe/Sofia",
    "Tallinn":                      "Europe/Tallinn",
    "Vilnius":                      "Europe/Vilnius",
    "Athens":                       "Europe/Athens",
    "Istanbul":                     "Europe/Istanbul",
    "Minsk":                        "Europe/Minsk",
    "Jerusalem":                    "Asia/Jerusalem",
    "Harare":                       "Africa/Harare",
    "Pretoria":                     "Africa/Johannesburg",
    "Kaliningrad":                  "Europe/Kaliningrad",
    "Moscow":                       "Europe/Moscow",
    "St. Petersburg":               "Europe/Moscow",
    "Volgograd":                    "Europe/Volgograd",
    "Samara":                       "Europe/Samara",
    "Kuwait":                       "Asia/Kuwait",
    "Riyadh":                       "Asia/Riyadh",
    "Nairobi":                      "Africa/Nairobi",
    "Baghdad":                      "Asia/Baghdad",
    "Tehran":                       "Asia/Tehran",
    "Abu Dhabi":                    "Asia/Muscat",
    "Muscat":                       "Asia/Muscat",
    "Baku":                         "Asia/Baku",
    "Tbilisi":                      "Asia/Tbilisi",
    "Yerevan":                      "Asia/Yerevan",
    "Kabul":                        "Asia/Kabul",
    "Ekaterinburg":                 "Asia/Yekaterinburg",
    "Islamabad":                    "Asia/Karachi",
    "Karachi":                      "Asia/Karachi",
    "Tashkent":                     "Asia/Tashkent",
    "Chennai":                      "Asia/Kolkata",
    "Kolkata":                      "Asia/Kolkata",
    "Mumbai":                       "Asia/Kolkata",
    "New Delhi":                    "Asia/Kolkata",
    "Kathmandu":                    "Asia/Kathmandu",
    "Dhaka":                        "Asia/Dhaka",
    "Sri Jayawardenepura":          "Asia/Colombo",
    "Almaty":                       "Asia/Almaty",
    "Astana":                       "Asia/Almaty",
    "Novosibirsk":                  "Asia/Novosibirsk",
    "Rangoon":                      "Asia/Yangon",
    "Bangkok":                      "Asia/Bangkok",
    "Hanoi":                        "Asia/Bangkok",
    "Jakarta":                      "Asia/Jakarta",
    "Krasnoyarsk":                  "Asia/Krasnoyarsk",
    "Beijing":                      "Asia/Shanghai",
    "Chongqing":                    "Asia/Chongqing",
    "Hong Kong":                    "Asia/Hong_Kong",
    "Urumqi":                       "Asia/Urumqi",
    "Kuala Lumpur":                 "Asia/Kuala_Lumpur",
    "Singapore":                    "Asia/Singapore",
    "Taipei":                       "Asia/Taipei",
    "Perth":                        "Australia/Perth",
    "Irkutsk":                      "Asia/Irkutsk",
    "Ulaanbaatar":                  "Asia/Ulaanbaatar",
    "Seoul":                        "Asia/Seoul",
    "Osaka":                        "Asia/Tokyo",
    "Sapporo":                      "Asia/Tokyo",
    "Tokyo":                        "Asia/Tokyo",
    "Yakutsk":                      "Asia/Yakutsk",
    "Darwin":                       "Australia/Darwin",
    "Adelaide":                     "Australia/Adelaide",
    "Canberra":                     "Australia/Canberra",
    "Melbourne":                    "Australia/Melbourne",
    "Sydney":                       "Australia/Sydney",
    "Brisbane":                     "Australia/Brisbane",
    "Hobart":                       "Australia/Hobart",
    "Vladivostok":                  "Asia/Vladivostok",
    "Guam":                         "Pacific/Guam",
    "Port Moresby":                 "Pacific/Port_Moresby",
    "Magadan":                      "Asia/Magadan",
    "Srednekolymsk":                "Asia/Srednekolymsk",
    "Solomon Is.":                  "Pacific/Guadalcanal",
    "New Caledonia":                "Pacific/Noumea",
    "Fiji":                         "Pacific/Fiji",
    "Kamchatka":                    "Asia/Kamchatka",
    "Marshall Is.":                 "Pacific/Majuro",
    "Auckland":                     "Pacific/Auckland",
    "Wellington":                   "Pacific/Auckland",
    "Nuku'alofa":                   "Pacific/Tongatapu",
    "Tokelau Is.":                  "Pacific/Fakaofo",
    "Chatham Is.":                  "Pacific/Chatham",
    "Samoa":                        "Pacific/Apia",
})

#: Names Rails' table had before a rename: "Kyev" became "Kyiv" (commit 2e7409f0352, 2009,
#: released in Rails 3.0) and "Ulaan Bataar" became "Ulaanbaatar" (d2a8f7e8225, 2013, Rails 4.0).
RENAMED = MappingProxyType({
    "Kyev": "Europe/Kyiv",
    "Ulaan Bataar": "Asia/Ulaanbaatar",
})

# Freshdesk's own samples are not always in Rails' case (its apps' data API shows
# "chennai"); a name that differs from the table only in case is the same zone.
_FOLDED = {name.casefold(): zone for name, zone in (*RENAMED.items(), *RAILS_TO_IANA.items())}


def iana_zone(name: object) -> str | None:
    """The IANA time zone of a Freshdesk ``time_zone``: a Rails zone name is mapped through
    :data:`RAILS_TO_IANA`, an IANA name this machine knows passes through as it is
    (Freshdesk accounts can hold them too). Anything else, including a name no table knows,
    gives None (the profile's fallback zone), never an exception: the value is customer data.
    """
    if not isinstance(name, str):
        return None
    text = name.strip()
    # The tables first (both, whatever the case): two Rails names are IANA names too
    # ("UTC", "Singapore"), and Rails' own zone for them is the same zone.
    zone = _FOLDED.get(text.casefold())
    return known_zone(zone or text)
