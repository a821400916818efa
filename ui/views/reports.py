"""The GSN safety case, baselines and their differences, and the certification downloads."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from compliance import navigation, services
from compliance.interchange.common import paused_gc
from compliance.models import Baseline
from compliance.selectors import baseline_list
from evidence import selectors as evidence_selectors
from projects.permissions import Action
from ui.forms import BaselineDiffForm, BaselineFreezeForm
from ui.views.common import (
    handle_form,
    may,
    paginate,
    project_view,
    render_project,
    succeeded,
)

#: Above this many nodes the drawing starts three levels deep; links open the hidden parts.
GSN_FULL_LIMIT = 400
GSN_DEPTH = 3


#: How long the argument of a large project and its drawings are kept (they are keyed by the
#: log's size too, so any recorded change builds them anew).
GSN_CACHE_SECONDS = 600


def _gsn_key(project, baseline) -> tuple[str, object]:
    """The cache key of the argument as it stands (and the latest checkpoint): the project,
    the size and root of its log, the size of its latest checkpoint and the baseline. Every
    change to the safety case appends to the log, so a changed case never matches an older
    key."""
    checkpoint = evidence_selectors.latest_checkpoint(project=project)
    size, root = evidence_selectors.log_head(project=project)
    parts = (
        "ui-gsn",
        project.pk,
        size,
        root.hex(),
        checkpoint.size if checkpoint else "-",
        baseline.pk if baseline else "live",
    )
    return ":".join(str(part) for part in parts), checkpoint


def _gsn_links(project, case, shown) -> dict[str, str]:
    """Where each drawn node leads: its goal, requirement or ledger entry."""
    key = project.key
    links = {}
    for node_id in shown:
        node = case.nodes[node_id]
        kind, _, code = node.ref.partition(":")
        if kind == "requirement":
            links[node_id] = reverse("ui:requirement", args=[key, code])
        elif kind == "goal":
            links[node_id] = reverse("ui:hara", args=[key]) + f"#goal-{code}"
        elif node.entry is not None:
            links[node_id] = reverse("ui:entry-proof", args=[key, node.entry])
    return links


def _gsn_drawing(project, case, root, name, gsn) -> dict:
    """What the page shows of ``case`` from ``root``: three levels deep when the argument
    has more than :data:`GSN_FULL_LIMIT` nodes, with links to the parts not drawn."""
    if root not in case.nodes:
        root = case.root
    depth = None if len(case.nodes) <= GSN_FULL_LIMIT else GSN_DEPTH
    shown = gsn.subtree(case, root, depth)
    visible = set(shown)
    hidden = [
        case.nodes[n] for n in shown if any(child not in visible for child in case.supporters(n))
    ]
    links = _gsn_links(project, case, shown)
    for node in hidden:  # a node with parts not drawn opens the drawing from it
        links.setdefault(node.id, f"?{urlencode({'root': node.id, 'baseline': name or ''})}")
    focus = [case.nodes[c] for s in case.supporters(case.root) for c in case.supporters(s)]
    return {
        # to_svg writes through ElementTree, which escapes every text and attribute.
        "svg": mark_safe(gsn.to_svg(case, root, shown)),  # noqa: S308
        "links": links,
        "focus": focus,
        "root": case.nodes[root],
        "top": case.root,
        "counts": case.counts(),
        "gate": case.release_gate(),
        "status": case.status,
        "expandable": hidden[:50],
        "drawn": len(shown),
        "total": len(case.nodes),
    }


def _gsn_context(request, project) -> dict:
    """The safety case drawn by ``reports.gsn`` (when that module is installed).

    Building the argument reads every item of the model (as rows) and makes a node of each,
    some 400 ms at 10,000 requirements and 30,000 links; so for an argument larger than
    :data:`GSN_FULL_LIMIT` nodes both the argument and each drawing of it are kept in the
    cache under :func:`_gsn_key` (the drawing, a few dozen kilobytes, answers at once; the
    argument, megabytes, serves the other roots)."""
    try:
        from reports.selectors import ReportError, baseline_named
    except ImportError:
        return {"unavailable": True}
    name = request.GET.get("baseline") or None
    root = request.GET.get("root") or ""
    try:
        baseline = baseline_named(project, name) if name else None
        key, checkpoint = _gsn_key(project, baseline)
        drawing = cache.get(f"{key}:root:{root}")
        if drawing is None:
            # a hundred thousand objects and no cycle: the collector would walk them again
            # and again (a third of the time)
            with paused_gc():
                drawing = _gsn_compute(request, project, baseline, checkpoint, key, root, name)
    except ReportError as exc:
        return {"problem": str(exc), "baseline_name": name}
    return {**drawing, "baseline_name": name}


def _gsn_compute(request, project, baseline, checkpoint, key, root, name) -> dict:
    """The drawing from ``root``, from the cached argument or a new one (kept in the cache
    with the drawing when the argument is large)."""
    from reports import gsn
    from reports.selectors import case_snapshot

    keep = {}
    case = cache.get(key)
    if case is None:
        snapshot = case_snapshot(
            user=request.user,
            project=project,
            baseline=baseline,
            checkpoint=checkpoint,
            full=False,  # the argument alone: the drawing shows its own gate
        )
        case = keep[key] = gsn.build(snapshot)
    drawing = keep[f"{key}:root:{root}"] = _gsn_drawing(project, case, root, name, gsn)
    if len(case.nodes) > GSN_FULL_LIMIT:
        cache.set_many(keep, GSN_CACHE_SECONDS)
    return drawing


@project_view()
def gsn_svg(request, project):
    """The same drawing as a standalone SVG file, to open in a tab and zoom freely."""
    context = _gsn_context(request, project)
    if "svg" not in context:
        raise Http404(context.get("problem", "The GSN renderer is not installed."))
    return HttpResponse(context["svg"], content_type="image/svg+xml; charset=utf-8")


@project_view()
def gsn(request, project):
    context = _gsn_context(request, project)
    context["baselines"] = baseline_list(project=project)
    return render_project(request, project, "ui/gsn.html", context, section="gsn")


def _baselines(request, project, *, freeze_form=None, status=200):
    downloads = _report_modules() is not None
    diff_form = BaselineDiffForm(request.GET or None, project=project)
    diff = None
    if diff_form.is_bound and diff_form.is_valid():
        diff = _diff(request, project, diff_form.cleaned_data["old"], diff_form.cleaned_data["new"])
    if freeze_form is None and may(request, project, Action.REVIEW):
        freeze_form = BaselineFreezeForm()
    return render_project(
        request,
        project,
        "ui/baselines.html",
        {
            # without their content (every item of the model): read only for the two compared
            "baselines": baseline_list(project=project),
            "diff_form": diff_form,
            "diff": diff,
            "freeze_form": freeze_form,
            "downloads": downloads,
        },
        section="baselines",
        status=status,
    )


def _diff(request, project, old: Baseline, new: Baseline) -> dict:
    """The items that differ, field by field and a page at a time (compared by the database),
    and the verifications and confirmation reviews recorded between the two baselines."""
    changes = navigation.BaselineChanges(old, new, request.GET.get("kind", ""))
    page = paginate(request, changes)
    recorded = navigation.recorded_between(project=project, old=old, new=new)
    return {
        "from": old.name,
        "to": new.name,
        "kind": changes.kind,
        "kinds": changes.KINDS,
        "kind_label": changes.KINDS.get(changes.kind, ""),
        "counts": changes.counts(),
        "page": page,
        "verifications": recorded["verifications"][:LISTED],
        "verification_count": recorded["verifications"].count(),
        "approvals": recorded["approvals"][:LISTED],
        "approval_count": recorded["approvals"].count(),
    }


#: How many verifications and reviews recorded between two baselines are listed.
LISTED = 50


@project_view()
def baselines(request, project):
    return _baselines(request, project)


@require_POST
@project_view(Action.REVIEW)
def baseline_freeze(request, project):
    return handle_form(
        BaselineFreezeForm(request.POST),
        lambda data: services.baseline_freeze(
            user=request.user, project=project, name=data["name"]
        ),
        done=lambda baseline: succeeded(
            request,
            f"Baseline {baseline.name} frozen: {baseline.item_count} items.",
            "ui:baselines",
            key=project.key,
        ),
        failed=lambda form: _baselines(request, project, freeze_form=form, status=400),
    )


def _report_modules():
    """``reports.package`` and ``reports.pdf`` (and their selectors and services), or None when
    absent."""
    try:
        from reports import gsn, package, pdf, selectors, services
    except ImportError:
        return None
    return gsn, package, pdf, selectors, services


def _baseline(project, pk) -> Baseline:
    return get_object_or_404(baseline_list(project=project, content=True), pk=pk)


@require_POST
@project_view(Action.VIEW)
def package(request, project, pk):
    """Build the certification package of a baseline at the latest checkpoint and send it.

    A POST because the export is recorded in the ledger (``reports.services.record_export``);
    the view permission suffices, as for ``manage.py export_package``.
    """
    modules = _report_modules()
    if modules is None:
        raise Http404("Certification packages are not available in this deployment.")
    _gsn, package, _pdf, report_selectors, report_services = modules
    baseline = _baseline(project, pk)
    try:
        built = package.build_package(user=request.user, project=project, baseline=baseline)
    except report_selectors.ReportError as exc:
        messages.error(request, str(exc))
        return redirect("ui:baselines", key=project.key)
    file_name = f"{project.key}-{baseline.name}-{built.entries}.zip"
    report_services.record_export(
        user=request.user, project=project, package=built, file_name=file_name
    )
    response = HttpResponse(built.data, content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, file_name)
    return response


@project_view()
def evidence_pack(request, project, pk):
    """The PDF evidence pack of a baseline at the latest checkpoint (read only)."""
    modules = _report_modules()
    if modules is None:
        raise Http404("The PDF evidence pack is not available in this deployment.")
    gsn, _package, pdf, report_selectors, _services = modules
    baseline = _baseline(project, pk)
    try:
        checkpoint = report_selectors.latest_checkpoint(project)
        snapshot = report_selectors.case_snapshot(
            user=request.user, project=project, baseline=baseline, checkpoint=checkpoint
        )
    except report_selectors.ReportError as exc:
        messages.error(request, str(exc))
        return redirect("ui:baselines", key=project.key)
    result = pdf.render(
        snapshot, gsn.build(snapshot), report_selectors.register_rows(project, checkpoint.size)
    )
    file_name = f"{project.key}-{baseline.name}-{checkpoint.size}.pdf"
    response = HttpResponse(result.data, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(True, file_name)
    return response
