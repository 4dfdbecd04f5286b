"""What an information plane shows of a network: its probe passes and the bounds on both axes.

The measuring side of an information-bottleneck analysis, apart from training:

* :mod:`~ibscope.plane.capture` - forward hooks that capture every chosen layer's output on a fixed
  probe set in one unshuffled, row-aligned pass;
* :mod:`~ibscope.plane.brackets` - provable brackets on I(X;L) and I(L;Y) of a noisy network's
  layers, and the estimate of I(X;L) inside them (built on :mod:`ibscope.infobounds`);
* :mod:`~ibscope.plane.bounds` - the bounds on I(L;Y) that the network's own prediction implies;
* :mod:`~ibscope.plane.decoders` - held-out decoders of the label (usable information);
* :mod:`~ibscope.plane.flags` - the sanity flags of a row against those bounds.

:class:`ibscope.ib.IBRecorder` calls them every analysed epoch. These modules were
``ibscope.ib.capture``, ``ibscope.ib.brackets``, ``ibscope.ib.bounds``, ``ibscope.ib.decoders`` and
``ibscope.ib.flags``; those modules remain, and every name in them resolves here.
"""

__all__: list[str] = []
