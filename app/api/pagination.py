from rest_framework.pagination import LimitOffsetPagination


class OptionalLimitOffsetPagination(LimitOffsetPagination):
    """Pages only when asked: without `limit` the list stays a plain JSON array, which clients of
    the original API depend on. `limit` is capped so one request cannot ask for the whole table."""

    default_limit = None
    max_limit = 1000
