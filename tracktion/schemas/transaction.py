"""`POST /v4/transactions` bodies (docs/api.md §6.2) → `TransactionIn`, or `ValidationFailed` with every error.

Fields are checked in the order of §6.2's table, each reporting only its first failure. Money objects follow
§3.6; every currency must equal the reference currency (the first valid one, §6.2), so the reference is found
in a first pass and each money field is then checked against it in its own place in the order.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from tracktion.domain.fanout import CURRENCY, MONEY_FIELDS, PRODUCT_MONEY_FIELDS
from tracktion.domain.models import TransactionIn
from tracktion.errors import ErrorEntry, ValidationFailed, rejected
from tracktion.schemas.client import validate_client
from tracktion.schemas.common import TIME, check_salt, check_time
from tracktion.schemas.openapi_shapes import NON_EMPTY, JsonSchema, ref, without_nulls_on_required
from tracktion.schemas.params import MONEY, SOURCES, humanize

_NUMBER = (int, float)


def validate_transaction(obj: Any, receive_ms: int, *, item: bool = False) -> TransactionIn:
    if type(obj) is not dict:
        message = "Item must be a JSON object" if item else "Request body must be a JSON object"
        raise ValidationFailed(errors=[ErrorEntry(1001, "", message, rejected(obj))])
    errors: list[ErrorEntry] = []
    get = obj.get
    client = validate_client(get("client"), errors)
    order_id = get("orderId")
    _required_string(order_id, "", "orderId", "Order id is required", errors)

    time_ms, original = check_time(get("recordedAt"), "recordedAt", receive_ms, errors)
    salt = get("eventSalt")
    check_salt(salt, errors)

    reference = reference_currency(obj)
    products = get("products")
    if products is not None:
        if type(products) is not list:
            errors.append(ErrorEntry(1004, "products", "Products must be an array", rejected(products)))
        else:
            for index, product in enumerate(products):
                _check_product(product, index, reference, errors)
    for name in MONEY_FIELDS:
        _check_money(get(name), "", name, reference, errors)

    source = get("source")
    if source is not None and (type(source) is not str or source not in SOURCES):  # a list is unhashable
        errors.append(ErrorEntry(1007, "source", f"Invalid source ({rejected(source)})", rejected(source)))
    payment = get("paymentInfo")
    if payment is not None:
        if type(payment) is not dict:
            errors.append(
                ErrorEntry(1004, "paymentInfo", "Payment info must be an object", rejected(payment))
            )
        else:
            _required_string(
                payment.get("method"), "paymentInfo.", "method", "Payment method is required", errors
            )
    metadata = get("metadata")
    if metadata is not None and type(metadata) is not dict:
        errors.append(ErrorEntry(1004, "metadata", "Metadata must be an object", rejected(metadata)))

    if errors:
        raise ValidationFailed(errors=errors)
    assert type(order_id) is str
    return TransactionIn(client, order_id, time_ms, original, salt, obj, reference)


def reference_currency(body: dict[str, Any]) -> str | None:
    """The first *valid* currency in §6.2's order: value, revenue, discountAmount, then each product's prices.
    Tolerates an unvalidated body: validation uses it to find the currency every other one must equal."""
    candidates = [body.get(name) for name in MONEY_FIELDS]
    products = body.get("products")
    if type(products) is list:
        candidates += [p.get(n) for p in products if type(p) is dict for n in PRODUCT_MONEY_FIELDS]
    for money in candidates:
        if type(money) is dict:
            currency = money.get("currency")
            if type(currency) is str and CURRENCY.fullmatch(currency):
                return currency
    return None


# Field paths are built only when an error is reported: the valid path of a 5-product transaction would
# otherwise format ~35 strings it never uses. `parent` is "" or "products[i]." and `name` the key below it.


def _required_string(value: Any, parent: str, name: str, message: str, errors: list[ErrorEntry]) -> None:
    if type(value) is not str or not value:
        code = 1002 if value is None else 1004 if type(value) is not str else 1003
        errors.append(ErrorEntry(code, parent + name, message, rejected(value)))


def _check_money(
    money: Any,
    parent: str,
    name: str,
    reference: str | None,
    errors: list[ErrorEntry],
    required: str | None = None,
) -> None:
    if money is None:
        if required is not None:
            errors.append(ErrorEntry(1002, parent + name, required))
        return
    if type(money) is not dict:
        errors.append(ErrorEntry(1004, parent + name, f"{humanize(name)} must be an object", rejected(money)))
        return
    amount = money.get("amount")
    if amount is None:
        errors.append(ErrorEntry(1002, f"{parent}{name}.amount", "Amount cannot be empty"))
    elif type(amount) not in _NUMBER:
        errors.append(ErrorEntry(1004, f"{parent}{name}.amount", "Amount must be a number", rejected(amount)))
    elif amount < 0:
        errors.append(
            ErrorEntry(
                1006, f"{parent}{name}.amount", "Amount must be greater than or equal to 0", rejected(amount)
            )
        )
    currency = money.get("currency")
    if currency is None:
        errors.append(ErrorEntry(1002, f"{parent}{name}.currency", "Currency cannot be empty"))
    elif type(currency) is not str:
        errors.append(
            ErrorEntry(1004, f"{parent}{name}.currency", "Currency must be a string", rejected(currency))
        )
    elif currency == reference:
        pass  # the usual case; the reference already passed the format check
    elif not CURRENCY.fullmatch(currency):
        errors.append(
            ErrorEntry(1005, f"{parent}{name}.currency", f"Invalid currency format({currency})", currency)
        )
    elif reference is not None:
        errors.append(
            ErrorEntry(
                1010,
                f"{parent}{name}.currency",
                f"Currency mismatch ({currency}, expected {reference})",
                currency,
            )
        )


# Optional product fields typed by §6.2: (key, accepted types, message).
_PRODUCT_TYPED = tuple(
    (name, types, f"{humanize(name)} must be {type_name}")
    for name, types, type_name in (
        ("discountPercent", _NUMBER, "a number"),
        ("tax", _NUMBER, "a number"),
        ("url", (str,), "a string"),
        ("image", (str,), "a string"),
    )
)


def _check_product(product: Any, index: int, reference: str | None, errors: list[ErrorEntry]) -> None:
    if type(product) is not dict:
        errors.append(ErrorEntry(1004, f"products[{index}]", "Product must be an object", rejected(product)))
        return
    parent = f"products[{index}]."
    get = product.get
    _required_string(get("sku"), parent, "sku", "Sku is required", errors)
    _required_string(get("name"), parent, "name", "Name is required", errors)
    quantity = get("quantity")
    if quantity is None:
        errors.append(ErrorEntry(1002, parent + "quantity", "Quantity is required"))
    elif type(quantity) not in _NUMBER:
        errors.append(ErrorEntry(1004, parent + "quantity", "Quantity must be a number", rejected(quantity)))
    elif quantity <= 0:
        errors.append(
            ErrorEntry(1006, parent + "quantity", "Quantity must be greater than 0", rejected(quantity))
        )
    _check_money(
        get("finalUnitPrice"), parent, "finalUnitPrice", reference, errors, "Final unit price is required"
    )
    for money_name in PRODUCT_MONEY_FIELDS[1:]:
        _check_money(get(money_name), parent, money_name, reference, errors)
    for key, types, message in _PRODUCT_TYPED:
        value = get(key)
        if value is not None and type(value) not in types:
            errors.append(ErrorEntry(1004, parent + key, message, rejected(value)))
    categories = get("categories")
    if categories is not None:
        if type(categories) is not list:
            errors.append(
                ErrorEntry(1004, parent + "categories", "Categories must be an array", rejected(categories))
            )
        else:
            for position, value in enumerate(categories):
                if type(value) is not str:
                    errors.append(
                        ErrorEntry(
                            1004,
                            f"{parent}categories[{position}]",
                            "Category must be a string",
                            rejected(value),
                        )
                    )


# -- the OpenAPI description of what `validate_transaction` accepts ------------------------------------------
@cache
def transaction_schema() -> JsonSchema:
    """§6.2, with the field lists `validate_transaction` walks."""
    product: JsonSchema = {
        "type": "object",
        "required": ["sku", "name", "quantity", "finalUnitPrice"],
        "properties": {
            "sku": NON_EMPTY,
            "name": NON_EMPTY,
            "quantity": {"type": "number", "exclusiveMinimum": 0},
            **{name: MONEY for name in PRODUCT_MONEY_FIELDS},
            **{
                name: {"type": "number" if types is _NUMBER else "string"}
                for name, types, _ in _PRODUCT_TYPED
            },
            "categories": {"type": "array", "items": {"type": "string"}},
        },
        "description": "All currencies of a transaction must be equal (§6.2). Other keys are kept.",
    }
    schema: JsonSchema = {
        "type": "object",
        "required": ["client", "orderId"],
        "properties": {
            "client": ref("Client"),
            "orderId": NON_EMPTY,
            "recordedAt": TIME,
            "eventSalt": NON_EMPTY,
            "products": {"type": "array", "items": product},
            **{name: MONEY for name in MONEY_FIELDS},
            "source": {"enum": sorted(SOURCES)},
            "paymentInfo": {"type": "object", "required": ["method"], "properties": {"method": NON_EMPTY}},
            "metadata": {"type": "object"},
        },
    }
    return without_nulls_on_required(schema)
