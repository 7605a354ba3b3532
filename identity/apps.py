from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "identity"
    label = "identity"
    verbose_name = _("Identité")

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from identity import events  # noqa: F401 - registers the journal event types
        from identity.services import sync_membership_permissions
        from platform_core.models import Membership

        def on_membership_saved(sender, instance, **kwargs):
            sync_membership_permissions(instance)

        def on_membership_deleted(sender, instance, **kwargs):
            sync_membership_permissions(instance)

        # weak=False: the receivers are local functions, which a weak reference would let go at once.
        post_save.connect(
            on_membership_saved, sender=Membership, dispatch_uid="identity-fs-perms", weak=False
        )
        post_delete.connect(
            on_membership_deleted, sender=Membership, dispatch_uid="identity-fs-perms-del", weak=False
        )
