"""Bridges from ibscope's information-plane analysis to other training and logging tools.

Each bridge lives in its own module and imports its tool only when that module
is imported, so ``import ibscope`` (and this package) never needs them:

* :mod:`ibscope.integrations.lightning` - :class:`~ibscope.integrations.lightning.InformationPlane`,
  a Lightning ``Callback`` that analyses a ``LightningModule`` at the end of chosen
  training epochs, writes an ``ibscope ib``-style run folder and logs every layer's
  I(X;L) and I(L;Y) to the trainer's loggers (``pip install 'ibscope[lightning]'``).
* :mod:`ibscope.integrations.tensorboard` - :class:`~ibscope.integrations.tensorboard.TensorBoardCallback`,
  an :class:`ibscope.ib.Callback` for :func:`ibscope.ib.run_ib` and :class:`ibscope.ib.Trainer`
  that writes the same quantities, the training metrics and the information-plane
  figure to a TensorBoard log folder (``pip install 'ibscope[tensorboard]'``;
  ``ibscope ib --tensorboard DIR`` on the command line).

Both name their scalars ``<prefix>/<layer>/<quantity>`` with the quantities of
:data:`ibscope.integrations._common.SCALARS` (``i_xl``, ``i_xl_low``, ``i_xl_high``,
``i_ly``, ``i_ly_low``, ``i_ly_high``), taken from the ``info.csv`` columns
``i_xl``, ``i_xl_lo``, ``i_xl_hi``, ``i_ly``, ``i_ly_lo``, ``i_ly_hi``.
"""

__all__: list[str] = []
