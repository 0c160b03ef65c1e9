"""Elements of `POST /v4/clients/batch` (docs/api.md §9.6) and the body of `POST /v4/clients` (§9.7, the same rules)
→ `ProfileIn`, or `ValidationFailed` with every error.

Fields follow `Synerise/php-sdk:lib/V4/Models/CreateClientRequestBody.php`. Paths are relative to the element
(`phone`, `agreements.sms`, `tags[2]`); the batch handler adds the `[i]` prefix. Each field reports only its first
failure; fields are checked in the order of §9.6. Unknown keys are ignored (§1.3); `ignored_keys` names them for
the `X-Tracktion-Ignored-Keys` answer header (§9.7).

Where the contract is silent:
* identifiers (`clientId`, `customId`, `email`, `uuid`) follow §3.2 with the §3.8 messages; `null` = absent;
  at least one is required (1003, field `""`);
* the other strings (names, address, `avatarUrl`, …) may not contain U+0000 nor consist only of variation
  selectors (U+FE00–U+FE0F), Synerise's documented rules (1008); no length limit beyond the body size;
* `phone` also follows the identifier character rules (Synerise lists it with them) and its pattern (1005);
* `countryCode`: an ISO 3166-1 alpha-2 code, any case, stored upper-cased; unknown → 1007;
* `birthDate`: `yyyy-mm-dd` (ASCII digits, zero-padded, a real date) → else 1005; not later than 1900-01-01 → 1006;
* `agreements`: booleans; Synerise also documents `"true"`/`"True"`/`"false"`/`"False"` and `1`/`0`, accepted
  and stored as booleans; unknown agreement names are ignored;
* `attributes`: an object; reserved names (`tracktion.domain.profiles.RESERVED_ATTRIBUTES`) are ignored; names
  with Synerise's forbidden characters → 1008; values are free-form JSON (top-level strings follow the string
  rule above);
* `tags`: an array of non-empty strings (string rule above); `null` clears.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from tracktion.domain.models import ClientRef, ProfileIn
from tracktion.domain.profiles import AGREEMENTS, RESERVED_ATTRIBUTES
from tracktion.errors import ErrorEntry, ValidationFailed, rejected
from tracktion.schemas.client import CLIENT, CLIENT_ID_MAX, email_error, identifier_error, trimmed, uuid_error
from tracktion.schemas.openapi_shapes import NON_EMPTY, JsonSchema, nullable

# §9.6 verbatim (Synerise's pattern), used with `re.search` on each alternative's anchors.
_PHONE = re.compile(r"(^\+[0-9 \-()/]{6,19}$)|(^[0-9 \-()/]{6,20}$)")
_BIRTH_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)  # "later than 1900-01-01": this day itself is refused
_VARIATION_SELECTORS = re.compile(r"[\uFE00-\uFE0F]+")
# Synerise: attribute names can't include `[\r\n\u2028\u2029\u00AD\u0000\uFE00-\uFE0F]`.
_BAD_ATTRIBUTE_NAME = re.compile(r"[\r\n\u2028\u2029\u00AD\x00\uFE00-\uFE0F]")

SEXES = ("FEMALE", "MALE", "OTHER", "NOT_SPECIFIED")  # Synerise `InBodyClientSex`
# (field, message name) of the plain strings, in §9.6 order; phone, countryCode, birthDate, sex have own rules.
_STRINGS: tuple[tuple[str, str], ...] = (
    ("firstName", "First name"),
    ("lastName", "Last name"),
    ("displayName", "Display name"),
    ("company", "Company"),
    ("address", "Address"),
    ("city", "City"),
    ("province", "Province"),
    ("zipCode", "Zip code"),
)
_TRUE = (True, 1, "true", "True")
_FALSE = (False, 0, "false", "False")

# ISO 3166-1 alpha-2 officially assigned codes (249), plus `XK` (Kosovo, user-assigned but in common use).
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY
    BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK
    FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR
    IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK
    ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK
"""
COUNTRY_CODES: frozenset[str] = frozenset(_COUNTRY_CODES.split())


def validate_profile(obj: Any, *, item: bool = True) -> ProfileIn:
    """One §9.6 element (`item`), or the body of `POST /v4/clients` (§9.7: the same rules)."""
    if type(obj) is not dict:
        message = "Item must be a JSON object" if item else "Request body must be a JSON object"
        raise ValidationFailed(errors=[ErrorEntry(1001, "", message, rejected(obj))])
    errors: list[ErrorEntry] = []
    client = _identifiers(obj, errors)
    update = ProfileIn(client)
    native = update.native

    if "phone" in obj:
        phone = obj["phone"]
        problem = None if phone is None else identifier_error(phone, "phone", "Phone")
        if problem is None and phone is not None and _PHONE.search(phone) is None:
            problem = ErrorEntry(1005, "phone", f"Phone format invalid ({phone})", phone)
        _keep(native, "phone", phone, problem, errors)
    for name, label in _STRINGS:
        if name in obj:
            _keep(native, name, obj[name], _string_error(obj[name], name, label), errors)
    if "countryCode" in obj:
        code = obj["countryCode"]
        problem = _string_error(code, "countryCode", "Country code")
        # ASCII first: `"ß".upper()` is "SS", a valid code.
        if problem is None and code is not None and not (code.isascii() and code.upper() in COUNTRY_CODES):
            problem = ErrorEntry(1007, "countryCode", f"Invalid country code ({code})", code)
        _keep(native, "countryCode", code.upper() if isinstance(code, str) else None, problem, errors)
    if "avatarUrl" in obj:
        _keep(
            native,
            "avatarUrl",
            obj["avatarUrl"],
            _string_error(obj["avatarUrl"], "avatarUrl", "Avatar url"),
            errors,
        )
    if "birthDate" in obj:
        birth = obj["birthDate"]
        _keep(native, "birthDate", birth, _birth_date_error(birth), errors)
    if "sex" in obj:
        sex = obj["sex"]
        problem = None
        if sex is not None and sex not in SEXES:
            problem = ErrorEntry(1007, "sex", f"Invalid sex ({rejected(sex)})", rejected(sex))
        _keep(native, "sex", sex, problem, errors)

    if "agreements" in obj:
        _agreements(obj["agreements"], update, errors)
    attributes = obj.get("attributes")
    if attributes is not None:
        _attributes(attributes, update, errors)
    if "tags" in obj:
        update.tags = _tags(obj["tags"], errors)

    if errors:
        raise ValidationFailed(errors=errors)
    return update


# Every key §9.6 names. Others are ignored (§1.3), and §9.7 has the answer name them (`ignored_keys`).
KNOWN_KEYS: frozenset[str] = frozenset(
    {
        "clientId",
        "email",
        "customId",
        "uuid",
        "phone",
        *(name for name, _ in _STRINGS),
        "countryCode",
        "avatarUrl",
        "birthDate",
        "sex",
        "agreements",
        "attributes",
        "tags",
    }
)


def ignored_keys(obj: Any) -> list[str]:
    """The keys of one element that §9.6 does not know and validation therefore dropped, in body order, as
    paths relative to the element: top-level keys (`area_code`, `firstname`) and unknown agreement names
    (`agreements.newsletter`). `attributes` is free-form, so nothing in it is unknown; reserved attribute
    names are a documented rule, not an unknown key."""
    if type(obj) is not dict:
        return []
    keys = [key for key in obj if key not in KNOWN_KEYS]
    agreements = obj.get("agreements")
    if type(agreements) is dict:
        keys += [f"agreements.{name}" for name in agreements if name not in AGREEMENTS]
    return keys


# -- the OpenAPI description of what `validate_profile` accepts -------------------------------------------
_IDENTIFIER_KEYS = ("clientId", "customId", "email", "uuid")
# A §9.6 element = the §9.7 body. It says a little less than `validate_profile` checks (the phone pattern,
# real dates, the string rules), never more: no valid element is refused by it.
PROFILE_ELEMENT: JsonSchema = {
    "type": "object",
    "description": (
        "One profile (§9.6): at least one identifier (§3.2, trimmed first); `null` resets a native field."
        " Unknown keys are ignored and named in the `X-Tracktion-Ignored-Keys` response header (§9.7)."
    ),
    "properties": {
        "clientId": nullable({"type": "integer", "minimum": 1, "maximum": CLIENT_ID_MAX}),
        "customId": CLIENT["properties"]["customId"],
        "email": CLIENT["properties"]["email"],
        "uuid": CLIENT["properties"]["uuid"],
        "phone": nullable({"type": "string", "description": "Synerise's phone pattern (§9.6)"}),
        **{name: nullable({"type": "string"}) for name, _ in _STRINGS},
        "countryCode": nullable({"type": "string", "description": "ISO 3166-1 alpha-2, any case"}),
        "avatarUrl": nullable({"type": "string"}),
        "birthDate": nullable({"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}),
        "sex": nullable({"enum": list(SEXES)}),
        "agreements": nullable(
            {
                "type": "object",
                "properties": {name: nullable({"enum": [*_TRUE, *_FALSE]}) for name in AGREEMENTS},
            }
        ),
        "attributes": nullable({"type": "object"}),
        "tags": nullable({"type": "array", "items": NON_EMPTY}),
    },
    "anyOf": [{"required": [k], "properties": {k: {"not": {"type": "null"}}}} for k in _IDENTIFIER_KEYS],
}


def _identifiers(obj: dict[str, Any], errors: list[ErrorEntry]) -> ClientRef:
    client_id = obj.get("clientId")
    custom_id = obj.get("customId")
    email = obj.get("email")
    uuid = obj.get("uuid")
    if client_id is None and custom_id is None and email is None and uuid is None:
        errors.append(ErrorEntry(1003, "", "At least one client identifier required"))
        return ClientRef()
    if client_id is not None and (type(client_id) is not int or not 1 <= client_id <= CLIENT_ID_MAX):
        code = 1004 if type(client_id) is not int else 1006
        errors.append(
            ErrorEntry(code, "clientId", "Client id must be a positive integer", rejected(client_id))
        )
    # §3.2 trimming applies to profile writes too (§9.6, §9.7): trimmed first, then the §3.8 rules.
    if custom_id is not None:
        sent, custom_id = custom_id, trimmed(custom_id)
        if error := identifier_error(custom_id, "customId", "Custom id", sent):
            errors.append(error)
    if email is not None:
        sent, email = email, trimmed(email)
        if error := email_error(email, "email", sent):
            errors.append(error)
    if uuid is not None:
        sent, uuid = uuid, trimmed(uuid)
        if error := uuid_error(uuid, "uuid", sent=sent):
            errors.append(error)
        else:
            uuid = uuid.lower()
    return ClientRef(client_id, custom_id, email, uuid)


def _keep(
    native: dict[str, str | None], name: str, value: Any, problem: ErrorEntry | None, errors: list[ErrorEntry]
) -> None:
    if problem is not None:
        errors.append(problem)
    else:
        native[name] = value


def _string_error(value: Any, field: str, label: str) -> ErrorEntry | None:
    """Synerise's rule for profile strings: no U+0000, not only variation selectors. `None` passes (reset)."""
    if value is None:
        return None
    if type(value) is not str:
        return ErrorEntry(1004, field, f"{label} must be a string", rejected(value))
    if "\x00" in value or (value and _VARIATION_SELECTORS.fullmatch(value) is not None):
        return ErrorEntry(1008, field, f"{label} contains forbidden characters", rejected(value))
    return None


def _birth_date_error(value: Any) -> ErrorEntry | None:
    if value is None:
        return None
    message = "Birth date must be in yyyy-mm-dd format"
    if type(value) is not str:
        return ErrorEntry(1004, "birthDate", "Birth date must be a string", rejected(value))
    match = _BIRTH_DATE.fullmatch(value)
    try:
        date = datetime.date(*(int(g) for g in match.groups())) if match else None
    except ValueError:
        date = None
    if date is None:
        return ErrorEntry(1005, "birthDate", message, value)
    if date <= _EARLIEST_BIRTH_DATE:
        return ErrorEntry(1006, "birthDate", "Birth date must be later than 1900-01-01", value)
    return None


def _agreements(value: Any, update: ProfileIn, errors: list[ErrorEntry]) -> None:
    if value is None:  # a native field sent as null: reset every agreement
        update.agreements = dict.fromkeys(AGREEMENTS)
        return
    if type(value) is not dict:
        errors.append(ErrorEntry(1004, "agreements", "Agreements must be an object", rejected(value)))
        return
    for name in AGREEMENTS:
        if name not in value:
            continue
        sent = value[name]
        # `type(...) in (bool, int, str)` first: `True == 1` in Python, and `1.0 == 1` must not pass.
        if sent is None:
            update.agreements[name] = None
        elif type(sent) in (bool, int, str) and sent in _TRUE:
            update.agreements[name] = True
        elif type(sent) in (bool, int, str) and sent in _FALSE:
            update.agreements[name] = False
        else:
            errors.append(
                ErrorEntry(1004, f"agreements.{name}", f"Agreement {name} must be a boolean", rejected(sent))
            )


def _attributes(value: Any, update: ProfileIn, errors: list[ErrorEntry]) -> None:
    if type(value) is not dict:
        errors.append(ErrorEntry(1004, "attributes", "Attributes must be an object", rejected(value)))
        return
    for name, sent in value.items():
        if name in RESERVED_ATTRIBUTES:
            continue
        path = f"attributes.{name}"
        if _BAD_ATTRIBUTE_NAME.search(name):
            errors.append(
                ErrorEntry(1008, path, "Attribute name contains forbidden characters", rejected(name))
            )
            continue
        problem = _string_error(sent, path, "Attribute value") if isinstance(sent, str) else None
        if problem is not None:
            errors.append(problem)
        else:
            update.attributes[name] = sent


def _tags(value: Any, errors: list[ErrorEntry]) -> list[str] | None:
    if value is None:
        return []
    if type(value) is not list:
        errors.append(ErrorEntry(1004, "tags", "Tags must be an array of strings", rejected(value)))
        return None
    tags: list[str] = []
    for index, tag in enumerate(value):
        path = f"tags[{index}]"
        if tag is None:
            problem: ErrorEntry | None = ErrorEntry(1004, path, "Tag must be a string")
        elif tag == "":
            problem = ErrorEntry(1003, path, "Tag cannot be empty", tag)
        else:
            problem = _string_error(tag, path, "Tag")
        if problem is not None:
            errors.append(problem)
        else:
            tags.append(tag)
    return tags


__all__ = ["COUNTRY_CODES", "KNOWN_KEYS", "PROFILE_ELEMENT", "SEXES", "ignored_keys", "validate_profile"]
