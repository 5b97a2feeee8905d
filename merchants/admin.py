from django.contrib import admin

from .models import Category, City, District


class DistrictInline(admin.TabularInline):
    model = District
    extra = 0


@admin.register(City)
class CityAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "timezone", "seat_quota", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["code", "name_zh", "name_en"]
    inlines = [DistrictInline]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "is_food", "spend_min_fen", "spend_max_fen", "price_tier"]
    list_filter = ["is_food", "price_tier"]
    search_fields = ["code", "name_zh", "name_en"]
