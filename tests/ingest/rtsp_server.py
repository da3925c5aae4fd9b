#!/usr/bin/python3
"""A live RTSP camera for the ingest tests: GStreamer's RTSP server on loopback.

Serves rtsp://127.0.0.1:PORT/test (H.264, a moving test pattern) and prints
"READY <url>" once it accepts clients. Exits on SIGTERM or SIGINT.

usage: rtsp_server.py [--port N] [--size WxH] [--fps N]   (port 0: a free one)
"""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()
    width, height = args.size.split("x")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_shared(True)
    # threads=1 sliced-threads=false: with zerolatency alone x264 slices
    # frames and FFmpeg reports corrupt frames at keyframes.
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball ! "
        f"video/x-raw,width={width},height={height},framerate={args.fps}/1 ! videoconvert ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} bitrate=500 "
        f"threads=1 sliced-threads=false ! video/x-h264,profile=baseline ! "
        f"rtph264pay name=pay0 pt=96 config-interval=-1 )")
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        print(f"FAILED port {args.port} is taken", flush=True)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}/test", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
