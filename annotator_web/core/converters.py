"""Path converters shared by every app's routes (registered by the root URL configuration)."""


class IdConverter:
    """A database id: at most 18 digits (a larger number is no id, a 404, never an overflow in the query)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)
