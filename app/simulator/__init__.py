"""A simulated upstream: the Runway image-to-video API as a real ASGI app, with no GPU behind it.

It speaks the same routes, bodies, statuses and errors as the real API (Runway's API reference,
https://docs.dev.runwayml.com/api), validates requests with the console's own catalogue rules,
and renders a short but real H.264 video from the input frames. Time advances lazily on each
request, so tests can drive it with a fake clock. Outputs are served from ``/outputs/<id>.mp4``
behind signed, expiring URLs, like the real CDN. Trigger words in ``promptText`` make a task
fail or slow down on demand (`triggers.TRIGGERS`). An image given as an https URL is fetched
when the video is rendered (5 s timeout); if that fails the task ends ``FAILED`` with
``ASSET.INVALID``, which is what always happens without internet access.

One module per job: `settings` (SIMULATOR_* variables), `triggers`, `validation` (the create
body) and `prompt_images` (its images), `schedule` (the task state machine), `account` (credits
and limits), `tasks` (the `Simulator` that holds them under one lock), `persistence` (tasks on
disk), `notify` (callbacks), `render` and `video` (the output), `signing` (output URLs), `uploads`,
`http` (the API's routes and error shapes), `cdn` (the upload URL and output links), `faults` and
`application` (the ASGI app). It shares only the catalogue, the image checks, the English error
texts, atomic file writes and the timestamp format with the console.
"""

from app.simulator.application import create_simulator_app
from app.simulator.settings import SimulatorSettings
from app.simulator.tasks import Simulator

__all__ = ["Simulator", "SimulatorSettings", "create_simulator_app"]
