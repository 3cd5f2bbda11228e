from django import forms
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render

from django_jobs.models import Job

from .models import Order
from .tasks import charge_gift_card, notify_warehouse, sync_to_accounting


class OrderForm(forms.ModelForm):
    class Meta:
        model = Order
        fields = ["email", "total_cents", "gift_card"]


def order_form(request):
    form = OrderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            order = form.save()  # post_save enqueues the receipt and a search index rebuild
            # Enqueued in the order's transaction: both exist, or neither.
            jobs = [notify_warehouse.enqueue(order.pk), sync_to_accounting.enqueue(order.pk)]
            if order.gift_card:
                jobs.append(charge_gift_card.enqueue(order.pk))
        messages.success(request, f"{order} placed; jobs {', '.join(f'#{result.id}' for result in jobs)} enqueued.")
        return redirect("order")
    return render(
        request,
        "shop/order.html",
        {
            "form": form,
            "orders": Order.objects.order_by("-id")[:10],
            "jobs": Job.objects.select_related("func").order_by("-id")[:15],
        },
    )
