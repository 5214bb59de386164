"""The admin for where files arrive by themselves: import mailboxes, store addresses, FTP folders.

Thin, like the rest of the admin: “Poll now” calls the same service the
schedule's task calls, and saving a source updates its schedule.  Passwords are
write-only: a form offers to replace one, never shows it (not even masked in
the page source), and an empty field keeps the stored one.

Mailboxes serve every store, so only superusers manage them; a store's address
and FTP folders follow the usual store scoping (members see, editors change).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from inventory.admin import CSS, ScopedStoreFilter, StoreScopedAdmin, editable_store_ids

from . import email_ingest, ftp_ingest
from .sources import EmailSource, FtpSource, Mailbox, ProcessedFile, ProcessedMessage, new_token

RECENT_ROWS = 20


class PasswordForm(forms.ModelForm):
    """A write-only password: typed in to replace the stored one, never rendered back."""

    new_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_password = forms.BooleanField(label="Remove the stored password", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.pk and self.instance.has_password
        self.fields["new_password"].help_text = (
            "A password is stored (hidden). Type a new one to replace it; leave empty to keep it."
            if stored
            else "No password stored yet."
        )

    def save(self, commit=True):
        if self.cleaned_data.get("new_password"):
            self.instance.password = self.cleaned_data["new_password"]
        elif self.cleaned_data.get("clear_password"):
            self.instance.password = ""
        return super().save(commit)


class MailboxForm(PasswordForm):
    class Meta:
        model = Mailbox
        fields = [
            "name",
            "enabled",
            "poll_minutes",
            "host",
            "port",
            "security",
            "verify_certificate",
            "username",
            "folder",
            "after_import",
            "move_to",
        ]


class FtpSourceForm(PasswordForm):
    class Meta:
        model = FtpSource
        fields = [
            "store",
            "enabled",
            "poll_minutes",
            "host",
            "port",
            "use_tls",
            "verify_certificate",
            "passive",
            "username",
            "folder",
            "pattern",
            "mode",
        ]


def _job_links(jobs) -> str:
    return format_html_join(
        ", ",
        '<a href="{}">import {}</a> ({})',
        (
            (reverse("admin:imports_importjob_change", args=[job.pk]), job.pk, job.get_status_display())
            for job in jobs
        ),
    )


def _messages_table(queryset):
    rows = list(queryset.select_related("store").prefetch_related("jobs")[:RECENT_ROWS])
    if not rows:
        return "No messages yet."
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                f"{row.created_at:%Y-%m-%d %H:%M}",
                row.store or "–",
                row.sender,
                row.subject,
                row.get_outcome_display(),
                format_html("<span style='white-space:pre-line'>{}</span>", row.detail),
                _job_links(row.jobs.all()) or "–",
            )
            for row in rows
        ),
    )
    return format_html(
        "<table><thead><tr><th>When (UTC)</th><th>Store</th><th>From</th><th>Subject</th><th>Outcome</th>"
        "<th>Detail</th><th>Imports</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


def _last_poll(obj) -> str:
    if obj.last_poll_at is None:
        return "Not polled yet."
    badge = "ok" if obj.last_poll_ok else "failed"
    return format_html("{} UTC, {}: {}", f"{obj.last_poll_at:%Y-%m-%d %H:%M}", badge, obj.last_poll_message)


def _report(modeladmin, request, reports) -> None:
    for name, report in reports:
        level = messages.SUCCESS if report.ok else messages.ERROR
        modeladmin.message_user(request, f"{name}: {report.message}", level)


# --- mailboxes ------------------------------------------------------------------


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    form = MailboxForm
    list_display = ["name", "host", "security", "username", "folder", "enabled", "poll_minutes", "last_poll"]
    actions = ["poll_now"]
    readonly_fields = ["last_poll", "recent_messages"]
    fieldsets = [
        (
            None,
            {
                "fields": ["name", "enabled", "poll_minutes"],
                "description": "A mailbox that receives the stores' import addresses (a catch-all, or "
                "plus-addressing: stock+TOKEN@ your domain). Unread messages are read; the token in the "
                "address decides the store.",
            },
        ),
        (
            "Server",
            {
                "fields": [
                    "host",
                    "port",
                    "security",
                    "verify_certificate",
                    "username",
                    "new_password",
                    "clear_password",
                ]
            },
        ),
        ("Messages", {"fields": ["folder", "after_import", "move_to"]}),
        ("Last poll", {"fields": ["last_poll", "recent_messages"]}),
    ]

    class Media:
        css = CSS

    # One mailbox serves every store: superusers only.
    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description="last poll")
    def last_poll(self, obj):
        return _last_poll(obj)

    @admin.display(description="recent messages")
    def recent_messages(self, obj):
        return _messages_table(ProcessedMessage.objects.filter(mailbox=obj))

    @admin.action(description="Poll now")
    def poll_now(self, request, queryset):
        _report(self, request, [(str(box), email_ingest.poll_mailbox(box)) for box in queryset])


# --- store addresses --------------------------------------------------------------


class EmailSourceForm(forms.ModelForm):
    class Meta:
        model = EmailSource
        fields = ["store", "enabled", "allowed_senders", "reply_to_sender", "mode"]
        widgets = {
            "allowed_senders": forms.Textarea(
                attrs={"rows": 4, "placeholder": "orders@supplier.com\n@warehouse.example"}
            )
        }


@admin.register(EmailSource)
class EmailSourceAdmin(StoreScopedAdmin):
    form = EmailSourceForm
    list_display = ["store", "address_column", "senders_column", "enabled", "reply_to_sender", "mode"]
    list_filter = [("store", ScopedStoreFilter), "enabled"]
    list_select_related = ["store"]
    actions = ["check_mail_now", "new_address"]
    readonly_fields = ["address", "recent_messages"]
    fieldsets = [
        (None, {"fields": ["store", "address", "enabled"]}),
        ("Who may send", {"fields": ["allowed_senders", "reply_to_sender"]}),
        ("Import", {"fields": ["mode"]}),
        ("Recent messages", {"fields": ["recent_messages"]}),
    ]

    class Media:
        css = CSS

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + ["store"] if obj is not None else fields

    @admin.display(description="import address")
    def address(self, obj):
        if obj is None or obj.pk is None:
            return "Made when saved."
        return format_html(
            '<code style="user-select:all;font-size:110%">{}</code><div class="help">Click to select, then '
            "copy. Mail with a spreadsheet attached to this address is imported into {} (the address is the "
            "secret: a new one can be made with the list's “New address” action).</div>",
            obj.address,
            obj.store,
        )

    @admin.display(description="import address")
    def address_column(self, obj):
        return format_html('<code style="user-select:all">{}</code>', obj.address)

    @admin.display(description="allowed senders")
    def senders_column(self, obj):
        rules = obj.sender_rules()
        if not rules:
            return format_html('<strong class="hub-down">{}</strong>', "none: every message is refused")
        return ", ".join(rules[:3]) + (f" and {len(rules) - 3} more" if len(rules) > 3 else "")

    @admin.display(description="recent messages")
    def recent_messages(self, obj):
        if obj is None or obj.pk is None:
            return "–"
        return _messages_table(ProcessedMessage.objects.filter(store=obj.store))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            obj = self.get_object(request, object_id)
            if obj is not None and not obj.sender_rules():
                messages.warning(
                    request,
                    "No sender is allowed yet, so every message to this address is refused. Add the "
                    "addresses (or @domains) that send stock files.",
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def _editable(self, request, queryset):
        if request.user.is_superuser:
            return queryset
        return queryset.filter(store_id__in=editable_store_ids(request))

    @admin.action(description="Check the mailboxes now", permissions=["change"])
    def check_mail_now(self, request, queryset):
        reports = email_ingest.poll_all_mailboxes()
        if not reports:
            self.message_user(
                request,
                "No import mailbox is set up; messages arrive only when the mail server pipes them in.",
                messages.WARNING,
            )
        _report(self, request, [(str(box), report) for box, report in reports])

    @admin.action(description="New address (the old one stops working)", permissions=["change"])
    def new_address(self, request, queryset):
        for source in self._editable(request, queryset):
            source.token = new_token()
            source.save(update_fields=["token"])
            self.message_user(request, f"{source.store}: the import address is now {source.address}.")


# --- FTP folders -------------------------------------------------------------------


@admin.register(FtpSource)
class FtpSourceAdmin(StoreScopedAdmin):
    form = FtpSourceForm
    list_display = ["location", "store", "pattern", "enabled", "poll_minutes", "last_poll"]
    list_filter = [("store", ScopedStoreFilter), "enabled"]
    list_select_related = ["store"]
    actions = ["poll_now"]
    readonly_fields = ["last_poll", "recent_files"]
    fieldsets = [
        (
            None,
            {
                "fields": ["store", "enabled", "poll_minutes"],
                "description": "Files that match the pattern are imported once, then moved to processed/ "
                "(or to failed/ with NAME.errors.txt beside them) in the same folder. Files still being "
                "uploaded and editor lock files (~$…) are left alone.",
            },
        ),
        (
            "Server",
            {
                "fields": [
                    "host",
                    "port",
                    "use_tls",
                    "verify_certificate",
                    "passive",
                    "username",
                    "new_password",
                    "clear_password",
                ]
            },
        ),
        ("Files", {"fields": ["folder", "pattern", "mode"]}),
        ("Last poll", {"fields": ["last_poll", "recent_files"]}),
    ]

    class Media:
        css = CSS

    @admin.display(description="last poll")
    def last_poll(self, obj):
        return _last_poll(obj) if obj is not None and obj.pk else "–"

    @admin.display(description="recent files")
    def recent_files(self, obj):
        if obj is None or obj.pk is None:
            return "–"
        rows = list(ProcessedFile.objects.filter(source=obj).select_related("job")[:RECENT_ROWS])
        if not rows:
            return "No files yet."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{row.created_at:%Y-%m-%d %H:%M}",
                    row.name,
                    f"{row.size:,}",
                    row.get_outcome_display(),
                    row.moved_to or "not moved yet",
                    _job_links([row.job]) if row.job else (row.detail or "–"),
                )
                for row in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>When (UTC)</th><th>File</th><th>Bytes</th><th>Outcome</th>"
            "<th>Moved to</th><th>Import</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    @admin.action(description="Poll now", permissions=["change"])
    def poll_now(self, request, queryset):
        if not request.user.is_superuser:
            queryset = queryset.filter(store_id__in=editable_store_ids(request))
        _report(self, request, [(source.location, ftp_ingest.poll_ftp(source)) for source in queryset])
