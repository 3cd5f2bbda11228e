from django.contrib import admin

from .models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "email",
        "total_cents",
        "gift_card",
        "created_at",
        "receipt_sent",
        "warehouse_notified",
        "accounting_synced",
        "gift_card_charged",
    ]
    list_filter = ["receipt_sent", "warehouse_notified", "accounting_synced"]
    search_fields = ["email"]
