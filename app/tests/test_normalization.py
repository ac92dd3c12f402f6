"""dni and name are normalised before they are checked and stored, so one person is one user."""

from __future__ import annotations

import pytest
from api.models import User

pytestmark = pytest.mark.django_db

USERS = "/api/users/"


def create(client, dni, name="Ada"):
    return client.post(USERS, {"dni": dni, "name": name}, content_type="application/json")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("12345678A", "12345678A"),
        ("12345678a", "12345678A"),  # lower case
        ("１２３４５６７８Ａ", "12345678A"),  # full-width digits and letter (NFKC)
        ("１２３４５６７８ａ", "12345678A"),  # full-width lower case
        ("  12345678A\t", "12345678A"),  # surrounding blanks
        ("\u300012345678A\u3000", "12345678A"),  # ideographic spaces around it
        ("0912-345678", "0912-345678"),  # the hyphen is allowed
        ("ab\uff0d12", "AB-12"),  # full-width hyphen-minus
    ],
)
def test_dni_is_normalised(client, given, stored):
    response = create(client, given)
    assert response.status_code == 201, response.content
    assert response.json()["dni"] == stored
    assert User.objects.get().dni == stored


def test_the_three_spellings_are_one_user(client):
    assert create(client, "12345678A").status_code == 201
    for spelling in ("12345678a", "１２３４５６７８Ａ", " 12345678A "):
        response = create(client, spelling, name="Someone else")
        assert (response.status_code, response.json()) == (400, {"detail": "User already exists"})
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "dni",
    [
        "1234\u200b5678",  # zero-width space
        "\u200b12345678",
        "1234\ufeff5678",  # zero-width no-break space (BOM)
        "\u202e12345678",  # right-to-left override
        "1234\u2066567",  # bidi isolate
        "12345678\u00ad",  # soft hyphen
        "1234\x075678",  # control character (bell)
        "1234\n5678",  # line feed inside
        "1234 5678",  # inner space
        "1234.5678",
        "1234_5678",
        "\u0410\u0412123",  # Cyrillic look-alikes of "AB"
        "Ñ123",  # a letter outside A-Z
        "١٢٣",  # Arabic-Indic digits
    ],
)
def test_dni_outside_letters_digits_and_hyphen_is_400_naming_the_rule(client, dni):
    response = create(client, dni)
    assert response.status_code == 400, response.content
    (message,) = response.json()["dni"]
    assert "A-Z" in message
    assert "0-9" in message
    assert "'-'" in message
    assert User.objects.count() == 0


@pytest.mark.parametrize("dni", ["", "   ", "\u3000", "\t\n"])
def test_blank_dni_is_400(client, dni):
    response = create(client, dni)
    assert response.status_code == 400
    assert "blank" in response.json()["dni"][0]


def test_dni_length_is_checked_after_normalisation(client):
    assert create(client, "１２３４５６７８９０１２３").status_code == 201  # 13 full-width digits
    response = create(client, "ß" * 7)  # 7 characters, 14 once upper-cased ("SS")
    assert response.status_code == 400
    assert "13" in response.json()["dni"][0]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("José", "José"),
        ("Jose\u0301", "José"),  # combining accent composed (NFC)
        ("  Ada Lovelace  ", "Ada Lovelace"),  # surrounding blanks
        ("Zoë 李 Ωmega", "Zoë 李 Ωmega"),  # any script is a name
        ("Ｆｕｌｌ", "Ｆｕｌｌ"),  # NFC, not NFKC: full-width stays as written
    ],
)
def test_name_is_nfc_normalised(client, given, stored):
    response = create(client, "1", given)
    assert response.status_code == 201, response.content
    assert response.json()["name"] == stored
    assert User.objects.get().name == stored


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Ada\u200bLovelace", "U+200B"),  # zero-width space
        ("Ada\u200d", "U+200D"),  # zero-width joiner
        ("\u202eecalevoL adA", "U+202E"),  # right-to-left override
        ("Ada\u2067x\u2069", "U+2067"),  # bidi isolate
        ("Ada\x1bLovelace", "U+001B"),  # escape
        ("Ada\nLovelace", "U+000A"),  # line feed
        ("Ada\tLovelace", "U+0009"),  # tab
        ("Ada\u2028Lovelace", "U+2028"),  # line separator
        ("Ada\x7f", "U+007F"),  # delete
    ],
)
def test_name_with_control_or_format_characters_is_400_naming_them(client, name, code):
    response = create(client, "1", name)
    assert response.status_code == 400, response.content
    (message,) = response.json()["name"]
    assert code in message
    assert "not allowed" in message
    assert User.objects.count() == 0


@pytest.mark.parametrize("name", ["", "   ", "\u3000", "\n"])
def test_blank_name_is_400(client, name):
    response = create(client, "1", name)
    assert response.status_code == 400
    assert "name" in response.json()
