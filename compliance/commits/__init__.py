"""Git commits that name requirements in their trailers, linked into the safety case.

A commit message such as::

    Clamp the brake request to the actuator limit

    Implements: FSR-012
    Verifies: TSR-003, TSR-004

links the commit to those requirements. Commits arrive two ways: ``manage.py link_commits``
reads a local clone with ``git log`` (:func:`~compliance.commits.services.link_repository`,
role-checked like every other write), and the Git hosting webhooks push them
(:func:`~compliance.commits.webhooks.receive_github_push`,
:func:`~compliance.commits.webhooks.receive_gitlab_push`, authenticated by the project's shared
secret instead of a user).

Every new link is a :class:`~compliance.models.CommitLink` row and a ``commit-link`` ledger
entry whose subject is ``commit:<sha>`` with the SHA-256 of the commit's canonical facts; the
entries of one run are appended in one batch. Linking is idempotent: a commit, requirement and
trailer kind already linked is skipped. When a newly linked commit changes a file that an
earlier ``Implements:`` commit of a requirement touched, the verification evidence of that
requirement recorded before the new commit turns stale.

The modules:

* :mod:`~compliance.commits.trailers`: the trailers of a commit message, read the way git
  reads them, and the requirement codes they name.
* :mod:`~compliance.commits.records`: :class:`~compliance.commits.records.Commit`, what
  Safecase keeps of a commit, and the results the services return.
* :mod:`~compliance.commits.git`: reading a local clone's history with ``git log``.
* :mod:`~compliance.commits.webhooks`: GitHub and GitLab push deliveries, authenticated by the
  project's shared secret.
* :mod:`~compliance.commits.services`: every write: the links, their ledger entries, the
  verifications a code change makes stale and the deliveries already processed.
"""
