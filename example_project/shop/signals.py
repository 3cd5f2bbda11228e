from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import Order
from .tasks import enqueue_search_index_rebuild, send_receipt


@receiver(post_save, sender=Order)
def order_saved(sender, instance, created, **kwargs):
    # The jobs are written in the same transaction as the order: if the
    # order's transaction rolls back, they do not exist either.
    if created:
        send_receipt.enqueue(instance.pk)
    enqueue_search_index_rebuild()  # one rebuild per minute, however many orders change in it
