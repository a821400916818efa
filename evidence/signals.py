"""Signals of the evidence app.

``checkpoint_committed`` is sent (with ``checkpoint=``) after an append's transaction has
committed and its checkpoint was handed to the store: :mod:`evidence.witnessing` listens to
submit it to the witnesses, without the ledger depending on the witnessing code.
"""

from django.dispatch import Signal

checkpoint_committed = Signal()
