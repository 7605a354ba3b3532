from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "exchange"
    label = "exchange"
    verbose_name = _("Échanges de données")

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from exchange import events  # noqa: F401 - registers the journal event types
        from exchange.services import sync_membership
        from platform_core.models import Membership

        def on_membership_changed(sender, instance, **kwargs):
            sync_membership(instance)

        # weak=False: the receivers are local functions, which a weak reference would let go at once.
        post_save.connect(on_membership_changed, sender=Membership, dispatch_uid="exchange-perms", weak=False)
        post_delete.connect(
            on_membership_changed, sender=Membership, dispatch_uid="exchange-perms-del", weak=False
        )
