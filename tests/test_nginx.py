"""The console behind nginx with the very config bench/ runs (bench/nginx.conf.template): nginx sends
the video the console authorised (X-Accel-Redirect), Range included, and nothing it did not."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from bench.nginx import Nginx
from tests.fake_upstream import FAKE_MP4
from tests.helpers import create_task, wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(), reason="nginx is not installed"
)


def test_nginx_serves_the_authorised_video_with_range_and_nothing_else(
    make_settings, serve, fake_upstream, png, tmp_path
):
    from app.main import create_app

    fake_upstream.auto_advance = False  # tasks move only when the test says

    data_dir = tmp_path / "data"
    settings = make_settings(
        RUNWAYML_BASE_URL=fake_upstream.api_url,
        RUNWAYML_API_SECRET="key",
        CONSOLE_ACCEL_REDIRECT="/_protected_videos/",
    )
    console = serve(create_app(settings))
    with httpx.Client(base_url=console.url, follow_redirects=False) as client:
        task_id = create_task(client, png)
        pending = create_task(client, png)
        fake_upstream.tasks[task_id].update(status="SUCCEEDED", output=[fake_upstream.output_url(task_id)])
        wait_until(lambda: client.get(f"/tasks/{task_id}", headers={"Accept": "application/json"}).json()["video"])

    with Nginx(tmp_path / "nginx", console.port, data_dir / "videos") as nginx, httpx.Client(base_url=nginx.url) as web:
        whole = web.get(f"/tasks/{task_id}/video.mp4")
        assert whole.status_code == 200 and whole.content == FAKE_MP4
        assert whole.headers["content-type"] == "video/mp4"
        assert whole.headers["content-disposition"] == f'inline; filename="runway-{task_id}.mp4"'
        assert "x-accel-redirect" not in whole.headers
        part = web.get(f"/tasks/{task_id}/video.mp4", headers={"Range": "bytes=4-11"})
        assert part.status_code == 206 and part.content == FAKE_MP4[4:12] == b"ftypmp42"
        download = web.get(f"/tasks/{task_id}/video.mp4", params={"download": "1"})
        assert download.headers["content-disposition"] == f'attachment; filename="runway-{task_id}.mp4"'
        # The file location is internal: only the console's answer opens it.
        assert web.get(f"/_protected_videos/{task_id}.mp4").status_code == 404
        assert web.get(f"/tasks/{pending}/video.mp4").status_code == 404
        assert web.get("/tasks/never-created/video.mp4").status_code == 404
