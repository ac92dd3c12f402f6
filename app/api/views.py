from django.db import IntegrityError, transaction
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from api.exceptions import UserAlreadyExists
from api.models import User
from api.pagination import OptionalLimitOffsetPagination
from api.serializers import UserSerializer


class UserViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = User.objects.order_by("id")
    serializer_class = UserSerializer
    pagination_class = OptionalLimitOffsetPagination

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
