from django.db import models


class User(models.Model):
    # unique=True is the single source of truth for "one user per dni": the view relies on the
    # database constraint, which also settles two concurrent creates.
    dni = models.CharField(max_length=13, unique=True)
    name = models.CharField(max_length=30)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.dni} {self.name}"
