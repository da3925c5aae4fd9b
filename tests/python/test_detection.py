"""Detectors and a segmenter end to end: the control plane's test cluster (an
orchestrator and three workers on loopback), each model applied as a
2-stage sim-enclave deployment, and `serdab stream` decoding their raw
outputs in the trusted client as the plan's `postprocess:` says.

Covers: torchvision's ssdlite320_mobilenet_v3_large exported without its
post-processing (backbone and heads) and a YOLO-style model built here, whose
boxes after NMS equal PyTorch's (torchvision's own SSD post-processing and
torchvision.ops.batched_nms) on every frame of a generated video; a
segmenter's class areas against torch.argmax; `--annotate`, whose video
has one frame per result with the boxes drawn where the results say (the
pixels are read back); `--events`, one line each time a class appears or
leaves; and `--preview`, whose JPEGs a browser can fetch while the camera
streams."""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import serdab_testing as st  # noqa: E402
import test_control_plane as cp  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

FRAMES = 20
SOURCE_W, SOURCE_H = 640, 480

# The SSD's heads with random weights: kaiming-initialised convolutions give
# logits spread wide enough that a few classes of a few anchors score high,
# as a trained detector's do (torchvision's own initialisation leaves every
# score at 1/91). A threshold of 0.5 keeps about 30 boxes a frame of the test video.
SSD_SCORE = 0.5
SSD_IOU = 0.55
SSD_MAX = 300
SSD_CANDIDATES = 300

YOLO_SIZE = 256
YOLO_CLASSES = 3
YOLO_STRIDES = [8, 16]
YOLO_SCORE = 0.75
YOLO_IOU = 0.45
YOLO_MAX = 100

SEG_SIZE = 96
SEG_CLASSES = 4


def randomised_ssd():
    torch.manual_seed(1)
    model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None, score_thresh=SSD_SCORE, nms_thresh=SSD_IOU,
        detections_per_img=SSD_MAX, topk_candidates=SSD_CANDIDATES).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                torch.nn.init.normal_(module.bias, std=0.1)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 2.0)
    return model


class SsdHeads(torch.nn.Module):
    """The README's export: backbone and heads, no resize, no decoding, no NMS."""

    def __init__(self, ssd):
        super().__init__()
        self.ssd = ssd

    def forward(self, x):
        heads = self.ssd.head(list(self.ssd.backbone(x).values()))
        return heads["bbox_regression"], heads["cls_logits"]


class TinyYolo(torch.nn.Module):
    """An anchor-free YOLO-style detector: two grids (strides 8 and 16), each
    cell one row of (tx, ty, tw, th, objectness, classes) logits."""

    def __init__(self):
        super().__init__()
        conv = torch.nn.Conv2d
        self.stride8 = torch.nn.Sequential(
            conv(3, 32, 3, 2, 1), torch.nn.ReLU(), conv(32, 64, 3, 2, 1), torch.nn.ReLU(),
            conv(64, 64, 3, 1, 1), torch.nn.ReLU(), conv(64, 128, 3, 2, 1), torch.nn.ReLU(),
            conv(128, 128, 3, 1, 1), torch.nn.ReLU())
        self.stride16 = torch.nn.Sequential(conv(128, 256, 3, 2, 1), torch.nn.ReLU(),
                                            conv(256, 256, 3, 1, 1), torch.nn.ReLU())
        self.head8 = conv(128, 5 + YOLO_CLASSES, 1)
        self.head16 = conv(256, 5 + YOLO_CLASSES, 1)

    def forward(self, x):
        a = self.stride8(x)
        b = self.stride16(a)
        rows = [head(f).flatten(2).transpose(1, 2) for head, f in ((self.head8, a),
                                                                  (self.head16, b))]
        return torch.cat(rows, 1)


def tiny_yolo():
    torch.manual_seed(2)
    model = TinyYolo().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        # Box offsets near the cell and sizes of a few cells, as a trained
        # head gives; the scores spread over (0, 1).
        for head in (model.head8, model.head16):
            head.weight[:4] *= 0.02
            head.weight[4:] *= 3
    return model


class TinySegmenter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        conv = torch.nn.Conv2d
        self.body = torch.nn.Sequential(conv(3, 16, 3, 2, 1), torch.nn.ReLU(),
                                        conv(16, 32, 3, 2, 1), torch.nn.ReLU(),
                                        conv(32, SEG_CLASSES, 1))

    def forward(self, x):
        return torch.nn.functional.interpolate(self.body(x), size=(SEG_SIZE, SEG_SIZE),
                                               mode="bilinear", align_corners=False)


def export(model, shape, path):
    torch.onnx.export(model, torch.randn(*shape), path, opset_version=13)
    return path


def ssd_reference(ssd, frame):
    """torchvision's own post-processing of the heads on a preprocessed frame,
    boxes mapped back to the source size (stretch resize)."""
    with torch.no_grad():
        x = torch.from_numpy(frame)
        features = list(ssd.backbone(x).values())
        heads = ssd.head(features)
        anchors = ssd.anchor_generator(
            torchvision.models.detection.image_list.ImageList(x, [(320, 320)]), features)
        detections = ssd.postprocess_detections(heads, anchors, [(320, 320)])
        detections = ssd.transform.postprocess(detections, [(320, 320)], [(SOURCE_H, SOURCE_W)])
    d = detections[0]
    return d["boxes"].numpy(), d["labels"].numpy(), d["scores"].numpy()


def yolo_reference(yolo, frame):
    """Grid decode, best class per row, score threshold and per-class NMS with
    torchvision.ops.batched_nms, boxes mapped back through the letterbox."""
    with torch.no_grad():
        rows = yolo(torch.from_numpy(frame))[0]
    centres = []
    for s in YOLO_STRIDES:
        n = YOLO_SIZE // s
        gy, gx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        centres.append(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).float() * s)
    cells = torch.cat(centres)
    strides = torch.cat([torch.full((YOLO_SIZE // s * (YOLO_SIZE // s),), float(s))
                         for s in YOLO_STRIDES])[:, None]
    cxcy = rows[:, :2] * strides + cells
    wh = torch.exp(rows[:, 2:4]) * strides
    boxes = torch.cat([cxcy - wh / 2, cxcy + wh / 2], 1)
    scores_all = torch.sigmoid(rows[:, 5:]) * torch.sigmoid(rows[:, 4:5])
    scores, labels = scores_all.max(1)
    keep = scores > YOLO_SCORE
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    kept = torchvision.ops.batched_nms(boxes, scores, labels, YOLO_IOU)[:YOLO_MAX]
    boxes, scores, labels = boxes[kept], scores[kept], labels[kept]
    # The letterbox: 640x480 scaled by 0.4 to 256x192, 32 rows of padding above.
    scale, pad_top = YOLO_SIZE / SOURCE_W, (YOLO_SIZE - SOURCE_H * YOLO_SIZE // SOURCE_W) // 2
    boxes = boxes - torch.tensor([0, pad_top, 0, pad_top], dtype=boxes.dtype)
    boxes = boxes / scale
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, SOURCE_W)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, SOURCE_H)
    return boxes.numpy(), labels.numpy(), scores.numpy()


def iou(a, b):
    """Boxes as (x, y, w, h)."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0


def check_detections(line, expected, what, score_threshold, iou_threshold):
    """The same boxes as PyTorch's: each of PyTorch's matched by one of ours
    with its class, its box (the JSON rounds to 0.1 px; the engine's float32
    arithmetic differs from PyTorch's in the last bits) and its score, and
    none of ours left over; ours best first. Two boxes whose scores agree to
    float32 noise may come in either order.

    Float32 noise may also decide a box that sits on a threshold: one whose
    score is within 1e-4 of the score threshold, or whose overlap with a
    better box of its class is within 0.01 of the NMS threshold, may be on
    one side only, and so may a box that such a box suppressed. At most two
    a frame."""
    boxes, labels, scores = expected
    got = line["detections"]
    where = f"{what} frame {line['frame']}"
    assert all(a["score"] >= b["score"] for a, b in zip(got, got[1:])), (where, got)
    theirs = [{"class": int(labels[i]), "score": float(scores[i]),
               "box": [float(boxes[i][0]), float(boxes[i][1]), float(boxes[i][2] - boxes[i][0]),
                       float(boxes[i][3] - boxes[i][1])]} for i in range(len(labels))]
    ours = [{"class": d["class"], "score": d["score"], "box": [d[k] for k in "xywh"]}
            for d in got]
    unmatched = list(range(len(ours)))
    missing = []
    for t in theirs:
        match = next((j for j in unmatched if ours[j]["class"] == t["class"]
                      and abs(ours[j]["score"] - t["score"]) < 1e-3
                      and np.allclose(ours[j]["box"], t["box"], atol=0.2)), None)
        if match is None:
            missing.append(t)
        else:
            unmatched.remove(match)
    extra = [ours[j] for j in unmatched]

    def on_a_threshold(d, side, other_side_odd):
        if abs(d["score"] - score_threshold) < 1e-4:
            return True
        for b in side + other_side_odd:
            if b is d or b["class"] != d["class"] or b["score"] < d["score"]:
                continue
            overlap = iou(b["box"], d["box"])
            if abs(overlap - iou_threshold) < 0.01 or (b in other_side_odd and
                                                        overlap > iou_threshold):
                return True
        return False

    odd = missing + extra
    assert len(odd) <= 2 and all(
        on_a_threshold(d, theirs if d in missing else ours, extra if d in missing else missing)
        for d in odd), f"{where}: PyTorch's boxes we lack {missing}, ours it lacks {extra}"
    return len(theirs), len(odd)


def check_events(path, lines):
    """--events: a class appears once seen in 2 frames running and leaves once
    missing from 5 (or when the stream ends), as the results show it."""
    with open(path) as f:
        got = [json.loads(x) for x in f if x.strip()]
    expected, seen, missing, present = [], {}, {}, set()
    for line in lines:
        classes = {d["class"] for d in line["detections"]}
        for k in sorted(classes | present | set(seen)):
            if k in classes:
                seen[k], missing[k] = seen.get(k, 0) + 1, 0
                if k not in present and seen[k] >= 2:
                    present.add(k)
                    expected.append(("appeared", k, line["frame"]))
            else:
                seen[k] = 0
                missing[k] = missing.get(k, 0) + 1
                if k in present and missing[k] >= 5:
                    present.remove(k)
                    expected.append(("left", k, line["frame"]))
    expected += [("left", k, None) for k in sorted(present)]
    assert [(e["event"], e["class"]) for e in got] == [(kind, k) for kind, k, _ in expected], \
        (got, expected)
    for e, (_, _, frame) in zip(got, expected):
        assert frame is None or e["frame"] == frame, (e, frame)
        assert e["stream"] == "cam1", e
    assert any(e["event"] == "appeared" for e in got), got


def plan_for(c, name, model, preprocess, postprocess, stages=2):
    return cp.write(c.path(name + ".yaml"), f"""apiVersion: serdab/v1
kind: Deployment
metadata: {{name: {name}}}
model: {{path: {model}}}
preprocess: {preprocess}
postprocess:
{postprocess}
workers: {{selector: {{site: home}}, order: [edge, cloud]}}
placement: {{max_stages: {stages}}}
attestation: {{allow_simulation: true, allow_debug: true, any_measurement: true}}
""")


def apply_and_stream(c, plan, name, video, extra=()):
    c.cli_ok(["apply", "-f", plan, "--wait", "--timeout", "600"], timeout=660)
    stages = c.deployments()[name].get("stages", [])
    inputs = c.path(name + "-inputs")
    os.mkdir(inputs)
    r = st.check_ok(c.cli(["stream", "-f", plan, "--source", video, "--status", "off",
                           "--save-inputs", inputs] + list(extra), timeout=600))
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    assert [x["frame"] for x in lines] == list(range(FRAMES)), r.describe()
    return stages, inputs, lines


def saved_input(inputs, frame, shape):
    return np.fromfile(os.path.join(inputs, f"cam1-{frame}.f32"),
                       dtype=np.float32).reshape(shape)


def decode_video(path):
    """Every frame of `path` as RGB arrays."""
    out = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-f",
                          "rawvideo", "-pix_fmt", "rgb24", "-"], check=True,
                         capture_output=True, timeout=120).stdout
    frame_bytes = SOURCE_W * SOURCE_H * 3
    assert len(out) % frame_bytes == 0, len(out)
    return np.frombuffer(out, np.uint8).reshape(-1, SOURCE_H, SOURCE_W, 3).astype(np.int16)


def check_annotated(annotated_path, video, lines):
    """One frame per result; along each box's edges the annotated frame
    differs from the source frame, away from every box and the caption it
    does not."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
                            annotated_path], check=True, capture_output=True, text=True,
                           timeout=60)
    assert int(probe.stdout.strip()) == len(lines), probe.stdout
    drawn, source = decode_video(annotated_path), decode_video(video)
    boxes_checked = 0
    for line in lines[::4]:
        diff = np.abs(drawn[line["frame"]] - source[line["frame"]]).max(axis=2)
        covered = np.zeros(diff.shape, bool)
        covered[:40, :] = True  # the caption
        eligible = drawn_edges = 0
        for d in line["detections"]:
            x1, y1 = int(round(d["x"])), int(round(d["y"]))
            x2, y2 = int(round(d["x"] + d["w"])), int(round(d["y"] + d["h"]))
            covered[max(0, y1 - 6):min(SOURCE_H, y2 + 6), max(0, x1 - 6):min(SOURCE_W, x2 + 6)] \
                = True
            # The tag: above the box (inside at the top), as wide as its text.
            covered[max(0, y1 - 30):min(SOURCE_H, y1 + 30), max(0, x1 - 6):min(SOURCE_W, x1 + 160)] \
                = True
            if x2 - x1 < 12 or y2 - y1 < 12 or y1 < 45:
                continue
            # The bottom edge (no tag there): the box's lines are drawn
            # inside it, a few pixels thick.
            eligible += 1
            edge = diff[max(0, y2 - 4):y2 + 1, x1 + 3:x2 - 3].max(axis=0)
            drawn_edges += int(np.median(edge) > 30)
        assert drawn_edges >= eligible // 2, (line["frame"], drawn_edges, eligible)
        boxes_checked += eligible
        if (~covered).sum() > 1000:
            # H.264 at its default quality blurs testsrc2's sharp edges a little.
            assert np.median(diff[~covered]) < 12 and np.percentile(diff[~covered], 95) < 40, (
                np.median(diff[~covered]), np.percentile(diff[~covered], 95))
    assert boxes_checked >= 5, boxes_checked


def snapshot(port, stream):
    """The preview's latest JPEG of `stream`, or None before its first."""
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/streams/{stream}.jpg",
                                      timeout=5).read()
    except (urllib.error.URLError, ConnectionError):
        return None


def test_detectors_and_a_segmenter_through_two_stages():
    with cp.Cluster() as c:
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        video = c.path("street.mp4")
        # testsrc2 blended with a Mandelbrot zoom: few cells of a detector's
        # grid see the same pixels, so few boxes tie on score.
        size = f"{SOURCE_W}x{SOURCE_H}"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}:rate=10", "-f", "lavfi", "-i",
                        f"mandelbrot=size={size}:rate=10", "-filter_complex",
                        "[0][1]blend=all_mode=average", "-frames:v", str(FRAMES),
                        "-pix_fmt", "yuv420p", video], check=True, timeout=60)

        # ssdlite320 (torchvision), stretched to 320x320 and normalised as its
        # transform does (mean and std 0.5).
        ssd = randomised_ssd()
        export(SsdHeads(ssd).eval(), (1, 3, 320, 320), c.path("ssdlite.onnx"))
        labels = cp.write(c.path("coco.txt"), "".join(f"class-{i}\n" for i in range(91)))
        plan = plan_for(c, "ssd", "ssdlite.onnx",
                        "{resize: [320, 320], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}",
                        f"""  kind: detect
  labels_file: {labels}
  detect:
    score_threshold: {SSD_SCORE}
    iou_threshold: {SSD_IOU}
    candidates_per_class: {SSD_CANDIDATES}
    max_detections: {SSD_MAX}
    ssd:
      feature_maps: [20, 10, 5, 3, 2, 1]
      aspect_ratios: [[2, 3], [2, 3], [2, 3], [2, 3], [2, 3], [2, 3]]
      min_ratio: 0.2
      max_ratio: 0.95""")
        annotated = c.path("annotated.mp4")
        stages, inputs, lines = apply_and_stream(c, plan, "ssd", video,
                                                 ["--annotate", annotated])
        assert len(stages) == 2, stages
        compared = odd = 0
        for line in lines:
            expected = ssd_reference(ssd, saved_input(inputs, line["frame"], (1, 3, 320, 320)))
            n, k = check_detections(line, expected, "ssdlite", SSD_SCORE, SSD_IOU)
            compared, odd = compared + n, odd + k
            assert all(d["label"] == f"class-{d['class']}" for d in line["detections"]), line
        assert compared >= FRAMES, "too few boxes to compare"
        print(f"ssdlite: {compared} boxes of PyTorch's over {FRAMES} frames, {odd} on a threshold "
              "on one side only")
        check_annotated(annotated, video, lines)
        # Bad output places: one clear error line each, before any frame.
        cp.expect_failure(c.cli(["stream", "-f", plan, "--source", video, "--annotate",
                                 c.path("no-such-dir", "out.mp4")]), "no directory")
        cp.expect_failure(c.cli(["stream", "-f", plan, "--source", video, "--mqtt",
                                 f"mqtt://127.0.0.1:{st.free_port()}"]), "--mqtt", "127.0.0.1")

        # The YOLO-style model, letterboxed into 256x256.
        yolo = tiny_yolo()
        export(yolo, (1, 3, YOLO_SIZE, YOLO_SIZE), c.path("yolo.onnx"))
        plan = plan_for(c, "yolo", "yolo.onnx",
                        f"{{resize: [{YOLO_SIZE}, {YOLO_SIZE}], fit: letterbox}}",
                        f"""  kind: detect
  detect:
    score_threshold: {YOLO_SCORE}
    iou_threshold: {YOLO_IOU}
    candidates_per_class: 100000
    max_detections: {YOLO_MAX}
    yolo: {{layout: rows, objectness: true, sigmoid: true, strides: {YOLO_STRIDES}}}""")
        events = c.path("yolo-events.jsonl")
        stages, inputs, lines = apply_and_stream(c, plan, "yolo", video, ["--events", events])
        assert len(stages) == 2, stages
        check_events(events, lines)
        compared = odd = 0
        for line in lines:
            frame = saved_input(inputs, line["frame"], (1, 3, YOLO_SIZE, YOLO_SIZE))
            n, k = check_detections(line, yolo_reference(yolo, frame), "yolo", YOLO_SCORE,
                                    YOLO_IOU)
            compared, odd = compared + n, odd + k
        assert compared >= FRAMES, "too few boxes to compare"
        print(f"yolo: {compared} boxes of PyTorch's over {FRAMES} frames, {odd} on a threshold "
              "on one side only")

        # A segmenter: each class's share of the pixels, as torch.argmax has it.
        segmenter = TinySegmenter().eval()
        export(segmenter, (1, 3, SEG_SIZE, SEG_SIZE), c.path("segmenter.onnx"))
        plan = plan_for(c, "seg", "segmenter.onnx", f"{{resize: [{SEG_SIZE}, {SEG_SIZE}]}}",
                        "  kind: segment", stages=1)
        _, inputs, lines = apply_and_stream(c, plan, "seg", video)
        for line in lines[::5]:
            frame = saved_input(inputs, line["frame"], (1, 3, SEG_SIZE, SEG_SIZE))
            with torch.no_grad():
                classes = segmenter(torch.from_numpy(frame))[0].argmax(0).numpy()
            seg = line["segmentation"]
            assert (seg["width"], seg["height"]) == (SEG_SIZE, SEG_SIZE), seg
            got = {a["class"]: a["pixels"] for a in seg["classes"]}
            for k in range(SEG_CLASSES):
                # A pixel whose two best logits tie to float32 precision may go
                # either way.
                assert abs(got.get(k, 0) - int((classes == k).sum())) <= 5, (k, got)
            assert sum(got.values()) == SEG_SIZE * SEG_SIZE, got

        # --preview: a browser gets the annotated frames as JPEG while the
        # camera streams.
        port = st.free_port()
        args = ["stream", "-f", plan, "--source", video, "--status", "off", "--realtime",
                "--loop", "--preview", f"127.0.0.1:{port}",
                "--orchestrator", f"127.0.0.1:{c.orchestrator_port}",
                "--credentials", c.path("admin")]
        proc = subprocess.Popen([st.serdab_binary()] + args, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            jpeg = cp.wait_for("a preview snapshot", lambda: snapshot(port, "cam1"))
            assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9", jpeg[:4]
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
            assert b"/streams/cam1" in page, page
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert proc.returncode == 0 and "preview at http://127.0.0.1:" in err, err[-2000:]


if __name__ == "__main__":
    st.run_tests(globals())
