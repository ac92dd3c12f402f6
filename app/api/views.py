from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.exceptions import UserAlreadyExists
from api.models import User
from api.pagination import UserListPagination
from api.queries import user_by_pk
from api.serializers import UserSerializer
from api.streaming import streamed_list
from api.write_token import WritesNeedToken, WriteTokenAuthentication


class UserViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = User.objects.order_by("id")
    serializer_class = UserSerializer
    pagination_class = UserListPagination
    # The serializer's representation of a row, read straight from the database as values: the
    # list reads rows, not model instances (tests/test_streamed_list.py checks they agree).
    list_fields = tuple(UserSerializer._declared_fields)

    def get_authenticators(self) -> list:
        return [WriteTokenAuthentication()] if settings.WRITE_TOKEN else []

    def get_permissions(self) -> list:
        return [WritesNeedToken()] if settings.WRITE_TOKEN else []

    def list(self, request: Request, *args, **kwargs):
        """Every user, by id, as a JSON array; with `limit` (and `offset`), or `after`, a page."""
        # Without paging parameters the array is streamed (api/streaming.py), so the cost of the
        # unpaged list does not grow with the table; pages never count it (api/pagination.py).
        queryset = self.filter_queryset(self.get_queryset())
        if self.paginator.paging_requested(request):
            return Response(self.paginator.page(request, self.list_fields, queryset.db))
        renderer = request.accepted_renderer
        if type(renderer) is not JSONRenderer:
            # The browsable API (DJANGO_DEBUG=true only) renders a page around the data.
            return Response(list(queryset.values(*self.list_fields)))
        return streamed_list(
            queryset,
            self.list_fields,
            renderer,
            request.accepted_media_type,
            self.get_renderer_context(),
            head=request.method == "HEAD",
        )

    def get_object(self) -> User:
        """GenericAPIView.get_object() for a bare primary-key lookup, with the SQL compiled once
        per process (api/queries.py): retrieve is the hottest read of the API."""
        user = user_by_pk(self.kwargs[self.lookup_url_kwarg or self.lookup_field], alias=self.queryset.db)
        if user is None:
            raise exceptions.NotFound()
        self.check_object_permissions(self.request, user)
        return user

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            # A savepoint, so the failed INSERT leaves the connection usable (PostgreSQL aborts the
            # whole transaction otherwise).
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            # The only constraint a valid payload can violate is the unique dni.
            raise UserAlreadyExists() from None
        return Response(serializer.data, status=status.HTTP_201_CREATED)
