from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import Order
from .tasks import send_receipt


@receiver(post_save, sender=Order)
def enqueue_receipt(sender, instance, created, **kwargs):
    # The job is written in the same transaction as the order: if the
    # order's transaction rolls back, no receipt job exists.
    if created:
        send_receipt.enqueue(instance.pk)
