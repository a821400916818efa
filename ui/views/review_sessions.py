"""Review sessions: the list and the form a safety manager opens one with, a session's items
with each reviewer's signatures (current, stale or revoked) and the form a named reviewer signs
an item with (password again, meaning, decision, comment), and the reviews and comments of one
work product, as a fragment the item's own page loads."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from compliance import iso26262, selectors
from compliance import review_sessions as rs
from compliance.models import ReviewSession, SignatureDecision, SignatureMeaning
from projects.permissions import Action
from projects.selectors import member_users
from ui.views.common import handle_form, may, project_view, render_project, succeeded


class OpenReviewForm(forms.Form):
    title = forms.CharField(max_length=200)
    measure = forms.ChoiceField(
        choices=[(m.value, m.label) for m in iso26262.ConfirmationMeasure],
        help_text="the Table 1 row whose independence each signature must reach",
    )
    reviewers = forms.ModelMultipleChoiceField(queryset=None, to_field_name="username")
    keys = forms.CharField(
        label="Work products",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="one per line, as requirement:FSR-001 or goal:SG-01; empty with a baseline "
        "reviews its requirements and goals",
    )
    baseline = forms.ModelChoiceField(queryset=None, required=False, to_field_name="name")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewers"].queryset = member_users(project=project)
        self.fields["baseline"].queryset = selectors.baseline_list(project=project)

    def clean_keys(self):
        return [line.strip() for line in self.cleaned_data["keys"].splitlines() if line.strip()]


class SignForm(forms.Form):
    meaning = forms.ChoiceField(choices=SignatureMeaning.choices, initial="reviewed")
    decision = forms.ChoiceField(choices=SignatureDecision.choices, widget=forms.RadioSelect)
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=10_000,
        help_text="required for a rejection",
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        required=False,
        help_text="your password again: a signature needs you at the keyboard",
    )


class RevokeForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=10_000)


class CommentForm(forms.Form):
    text = forms.CharField(
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=10_000,
        help_text="@username tells a member by e-mail",
    )


# --- The sessions ----------------------------------------------------------------------------


def _list(request, project, form=None, status=200):
    if form is None and may(request, project, Action.REVIEW):
        form = OpenReviewForm(project=project)
    return render_project(
        request,
        project,
        "ui/review_sessions.html",
        {"sessions": list(selectors.review_session_list(project=project)), "form": form},
        section="reviews",
        status=status,
    )


@project_view()
def sessions(request, project):
    return _list(request, project)


@require_POST
@project_view(Action.REVIEW)
def session_open(request, project):
    return handle_form(
        OpenReviewForm(request.POST, project=project),
        lambda data: rs.session_open(user=request.user, project=project, **data),
        done=lambda session: succeeded(
            request,
            f"Review {session.title} opened; the reviewers were told.",
            "ui:review",
            key=project.key,
            pk=session.pk,
        ),
        failed=lambda form: _list(request, project, form=form, status=400),
    )


def _session(request, project, pk, forms_by_item=None, status=200):
    detail = selectors.review_session_detail(project=project, pk=pk)
    if detail is None:
        raise Http404("No such review.")
    session = detail["session"]
    named = any(u.pk == request.user.pk for u in session.reviewers.all())
    may_sign = named and session.status == ReviewSession.Status.OPEN
    content = _content(project, session, [row["item"] for row in detail["items"]])
    for row in detail["items"]:
        value = content.get(row["item"].key)
        row["content"] = value
        if value is not None:
            row["title"] = value.get("title") or ""
            row["text"] = value.get("text") or value.get("description") or ""
        if may_sign:
            row["form"] = (forms_by_item or {}).get(row["item"].key) or SignForm(
                prefix=f"i{row['item'].pk}"
            )
    return render_project(
        request,
        project,
        "ui/review_session.html",
        {
            **detail,
            "named": named,
            "may_close": may(request, project, Action.REVIEW)
            and session.status == ReviewSession.Status.OPEN,
            "revoke_form": RevokeForm(),
        },
        section="reviews",
        status=status,
    )


def _content(project, session, items) -> dict:
    """What each item says, as it was reviewed: the baseline's content, or the content now."""
    if session.baseline_id is not None:
        return {i.key: session.baseline.content.get(i.key) for i in items}
    from compliance.reviews import work_product_content

    prefixes = {i.key.split(":", 1)[0] for i in items}
    return work_product_content(project, prefixes) if prefixes else {}


@project_view()
def session(request, project, pk):
    return _session(request, project, pk)


@require_POST
@project_view()
def sign(request, project, pk):
    """A named reviewer signs one item (the form's prefix names it)."""
    review = get_object_or_404(selectors.review_session_list(project=project), pk=pk)
    chosen = request.POST.get("item_pk", "")
    item = review.items.filter(pk=int(chosen)).first() if chosen.isdigit() else None
    if item is None:
        messages.error(request, "Choose an item of this review to sign.")
        return _session(request, project, pk, status=400)
    form = SignForm(request.POST, prefix=f"i{item.pk}")

    def save(data):
        return rs.signature_sign(
            user=request.user,
            request=request,
            item=item,
            decision=data["decision"],
            meaning=data["meaning"],
            comment=data["comment"],
            password=data["password"],
        )

    return handle_form(
        form,
        save,
        done=lambda s: succeeded(
            request,
            f"{item.code}: you signed {s.get_decision_display().lower()} "
            f"({s.meaning}) in ledger entry {s.entry.index}.",
            "ui:review",
            key=project.key,
            pk=pk,
        ),
        failed=lambda form: _session(request, project, pk, {item.key: form}, status=400),
    )


@require_POST
@project_view(Action.REVIEW)
def close(request, project, pk):
    review = get_object_or_404(selectors.review_session_list(project=project), pk=pk)
    return handle_form(
        forms.Form(request.POST),
        lambda data: rs.session_close(user=request.user, session=review),
        done=lambda s: succeeded(
            request, f"Review {s.title} closed.", "ui:review", key=project.key, pk=pk
        ),
        failed=lambda form: _session(request, project, pk, status=400),
    )


@require_POST
@project_view()
def revoke(request, project, pk):
    signature = get_object_or_404(selectors.signature_list(project=project), pk=pk)
    return handle_form(
        RevokeForm(request.POST),
        lambda data: rs.signature_revoke(
            user=request.user, signature=signature, reason=data["reason"]
        ),
        done=lambda r: succeeded(
            request,
            f"Signature withdrawn in ledger entry {r.entry.index}.",
            "ui:review",
            key=project.key,
            pk=signature.session_id,
        ),
        failed=lambda form: _session(request, project, signature.session_id, status=400),
    )


# --- One work product: its reviews and comments -------------------------------------------


def _item(request, project, key, form=None, status=200):
    return render_project(
        request,
        project,
        "ui/fragments/item_reviews.html",
        {
            "key": key,
            "states": selectors.signature_states_of(project=project, key=key),
            "comments": list(selectors.comment_list(project=project, key=key)),
            "form": form or CommentForm(),
        },
        status=status,
    )


@project_view()
def item(request, project, item):
    return _item(request, project, item)


@require_POST
@project_view()
def comment(request, project, item):
    form = CommentForm(request.POST)
    back = request.POST.get("back") == "requirement" and item.startswith("requirement:")

    def done(comment):
        if back:
            return succeeded(
                request, "Comment added.", "ui:requirement", key=project.key, code=comment.key[12:]
            )
        return redirect("ui:item-reviews", key=project.key, item=comment.key)

    return handle_form(
        form,
        lambda data: rs.comment_add(
            user=request.user, project=project, key=item, text=data["text"]
        ),
        done=done,
        failed=lambda form: _item(request, project, item, form=form, status=400),
    )
