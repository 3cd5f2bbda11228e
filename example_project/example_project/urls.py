from django.contrib import admin
from django.urls import path
from shop import views

urlpatterns = [
    path("", views.order_form, name="order"),
    path("admin/", admin.site.urls),
]
