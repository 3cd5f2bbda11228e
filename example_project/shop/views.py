from django import forms
from django.db import transaction
from django.shortcuts import redirect, render

from .models import Order


class OrderForm(forms.ModelForm):
    class Meta:
        model = Order
        fields = ["email", "total_cents"]


def order_form(request):
    form = OrderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()  # post_save enqueues send_receipt in this transaction
        return redirect("order")
    return render(request, "shop/order.html", {"form": form, "orders": Order.objects.order_by("-id")[:10]})
