import re
import unicodedata

from rest_framework import serializers

from api.models import User


class StrictCharField(serializers.CharField):
    """A CharField that takes JSON strings only. DRF's own turns numbers into strings, so
    {"dni": 1.5e300} would be stored as "1.5e+300"; a wrong type is a client error instead."""

    default_error_messages = {"invalid": "Not a valid string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# After normalisation: ASCII only, so look-alike letters of other scripts (Cyrillic "А" for "A"),
# which NFKC keeps apart, cannot make a second user out of the same document number.
DNI_ALLOWED = re.compile(r"[A-Z0-9-]+")
# Control (Cc), format (Cf: zero-width characters, bidi overrides), surrogate (Cs) characters and
# the line/paragraph separators: invisible or layout-changing, never part of a person's name.
NAME_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def normalize_dni(value: str) -> str:
    """NFKC (full-width and other compatibility forms become ASCII), surrounding blanks removed,
    upper case: `12345678a`, `１２３４５６７８Ａ` and ` 12345678A ` are the same dni."""
    return unicodedata.normalize("NFKC", value).strip().upper()


def forbidden_name_characters(value: str) -> list[str]:
    return sorted({f"U+{ord(c):04X}" for c in value if unicodedata.category(c) in NAME_FORBIDDEN_CATEGORIES})


class DniField(StrictCharField):
    default_error_messages = {
        "characters": "Only the letters A-Z, the digits 0-9 and '-' are allowed "
        "(after Unicode NFKC normalisation and upper-casing).",
    }

    def to_internal_value(self, data):
        value = normalize_dni(super().to_internal_value(data))
        if not value:
            self.fail("blank")
        if not DNI_ALLOWED.fullmatch(value):
            self.fail("characters")
        return value


class NameField(StrictCharField):
    default_error_messages = {
        "characters": "Control and invisible formatting characters (zero-width, bidi overrides, line "
        "separators) are not allowed; found {found}.",
    }

    def to_internal_value(self, data):
        value = unicodedata.normalize("NFC", super().to_internal_value(data))
        found = forbidden_name_characters(value)
        if found:
            self.fail("characters", found=", ".join(found))
        return value


class UserSerializer(serializers.Serializer):
    """Fields declared by hand rather than through ModelSerializer, which rebuilds them from the
    model on every instantiation (a measurable share of a retrieve; see the README's benchmark).
    Lengths come from the model, so the two cannot drift apart; they are checked on the normalised
    value, which is also what the unique constraint sees.

    No uniqueness validator on dni: its SELECT would cost a query per create and still lose a race.
    The unique constraint decides, and the view turns its IntegrityError into the documented 400.
    """

    id = serializers.IntegerField(read_only=True)
    dni = DniField(max_length=User._meta.get_field("dni").max_length)
    name = NameField(max_length=User._meta.get_field("name").max_length)

    def to_representation(self, instance: User) -> dict:
        # By hand: DRF's generic walk over the fields costs more than the database query for a
        # page of 50 users. The declared fields above still drive validation and the schema.
        return {"id": instance.id, "dni": instance.dni, "name": instance.name}

    def create(self, validated_data: dict) -> User:
        return User.objects.create(**validated_data)
