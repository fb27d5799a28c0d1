"""The server's routes, one router per resource: :mod:`.status` (health, version, metrics),
:mod:`.rig` (cameras, calibration, a synthetic rig's truth), :mod:`.poses`, :mod:`.recordings`,
:mod:`.wizard` (the calibration wizard), :mod:`.streams` (the WebSockets) and :mod:`.pages`
(the viewer's and the wizard's pages). Each reaches the app's state through
:data:`~syncpose.server.state.State`."""
