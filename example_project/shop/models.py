from django.db import models


class Order(models.Model):
    email = models.EmailField()
    total_cents = models.PositiveIntegerField()
    gift_card = models.CharField(
        max_length=40, blank=True, help_text="Try GIFT-10, or any other code to see a failure."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by the jobs (shop/tasks.py), each once it has done its part.
    receipt_sent = models.BooleanField(default=False)
    warehouse_notified = models.BooleanField(default=False)
    accounting_synced = models.BooleanField(default=False)
    gift_card_charged = models.BooleanField(default=False)

    def __str__(self):
        return f"Order #{self.pk} for {self.email}"
