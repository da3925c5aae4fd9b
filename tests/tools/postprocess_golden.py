#!/usr/bin/python3
"""Golden data for tests/postprocess: what torchvision 0.14 itself computes.

Run with Debian's python (torch 1.13, torchvision 0.14):

    /usr/bin/python3 tests/tools/postprocess_golden.py tests/postprocess/golden

It writes small JSON fixtures that postprocess_tests compares the C++ decoders
against:
  nms.json        torchvision.ops.nms and batched_nms on random boxes with
                  near-duplicates and tied scores
  anchors.json    DefaultBoxGenerator's anchors for ssdlite320_mobilenet_v3_large
                  (all) and ssd300_vgg16 (explicit scales and steps; a sample)
  ssd.json        SSD.postprocess_detections + GeneralizedRCNNTransform.postprocess
                  of ssdlite320_mobilenet_v3_large on generated head outputs
  yolo.json       a YOLO decode written in torch, then torchvision's batched_nms

The SSD head outputs (3234 x 91 logits) would make a large fixture, so they are
generated on both sides from a counter hash (Hashed below, HashedTensor in the
test) whose values are exact in float32. Float32 values are written with the
fewest digits that read back as the same float32.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torchvision
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import batched_nms, nms

SEED = 20240611


def f32(values):
    """Float32 values as the shortest decimals that read back as themselves."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    return [float(np.format_float_positional(v, unique=True, trim="-")) for v in flat]


def hashed(seed, count, lo, hi):
    """`count` values from a counter hash (murmur3's finaliser), each
    lo + (hi - lo) * u / 2^24 for a 24-bit u: exact in float32 when hi - lo is
    a power of two. The test generates the same numbers."""
    h = (np.arange(count, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B9)) & np.uint64(
        0xFFFFFFFF)
    h = h.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    u = (h >> np.uint32(8)).astype(np.float64)
    return torch.tensor(lo + (hi - lo) * u / 2.0**24, dtype=torch.float32)


def nms_cases(gen):
    cases = []
    # Clusters of near-duplicates around random objects, and scores with ties.
    n_objects = 25
    centres = torch.rand(n_objects, 2, generator=gen) * 200
    sizes = torch.rand(n_objects, 2, generator=gen) * 50 + 10
    boxes = []
    for i in range(n_objects):
        for _ in range(int(torch.randint(1, 6, (1,), generator=gen))):
            jitter = (torch.rand(4, generator=gen) - 0.5) * 6
            c, s = centres[i], sizes[i]
            boxes.append(torch.stack([c[0] - s[0] / 2, c[1] - s[1] / 2, c[0] + s[0] / 2,
                                      c[1] + s[1] / 2]) + jitter)
    boxes = torch.stack(boxes).to(torch.float32)
    boxes = torch.cat([boxes, boxes[:5]])  # exact duplicates
    n = boxes.shape[0]
    # Scores on a coarse grid: many exact ties.
    scores = (torch.randint(0, 20, (n,), generator=gen).to(torch.float32) / 20).to(torch.float32)
    classes = torch.randint(0, 4, (n,), generator=gen)
    for iou in (0.3, 0.5, 0.7):
        cases.append({
            "name": f"clusters_iou{iou}",
            "boxes": f32(boxes), "scores": f32(scores), "classes": classes.tolist(),
            "iou_threshold": iou,
            "nms": nms(boxes, scores, iou).tolist(),
            "batched_nms": batched_nms(boxes, scores, classes, iou).tolist(),
        })
    # More than 1000 boxes: batched_nms takes its per-class (vanilla) path.
    # Distinct scores there, as that path's torch.sort is not stable.
    n = 1100
    xy = torch.rand(n, 2, generator=gen) * 300
    wh = torch.rand(n, 2, generator=gen) * 40 + 2
    boxes = torch.cat([xy, xy + wh], 1).to(torch.float32)
    scores = torch.randperm(n, generator=gen).to(torch.float32) / n
    classes = torch.randint(0, 7, (n,), generator=gen)
    cases.append({
        "name": "many_boxes",
        "boxes": f32(boxes), "scores": f32(scores), "classes": classes.tolist(),
        "iou_threshold": 0.5,
        "nms": nms(boxes, scores, 0.5).tolist(),
        "batched_nms": batched_nms(boxes, scores, classes, 0.5).tolist(),
    })
    return {"cases": cases}


def ssdlite():
    model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None,
                                                                     weights_backbone=None)
    model.eval()
    return model


def anchors(model):
    feature_maps = [20, 10, 5, 3, 2, 1]
    images = ImageList(torch.zeros(1, 3, 320, 320), [(320, 320)])
    features = [torch.zeros(1, 1, f, f) for f in feature_maps]
    boxes = model.anchor_generator(images, features)[0]
    generator = model.anchor_generator
    # ssd300_vgg16's generator (torchvision/models/detection/ssd.py): explicit
    # scales and steps. Its 8732 anchors would make a large fixture: every
    # 16th is kept.
    ssd300 = DefaultBoxGenerator([[2], [2, 3], [2, 3], [2, 3], [2], [2]],
                                 scales=[0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05],
                                 steps=[8, 16, 32, 64, 100, 300])
    ssd300_maps = [38, 19, 10, 5, 3, 1]
    ssd300_boxes = ssd300(ImageList(torch.zeros(1, 3, 300, 300), [(300, 300)]),
                          [torch.zeros(1, 1, f, f) for f in ssd300_maps])[0]
    return {
        "ssdlite320": {
            "input_width": 320, "input_height": 320,
            "feature_maps": feature_maps,
            "aspect_ratios": generator.aspect_ratios,
            "min_ratio": 0.2, "max_ratio": 0.95, "clip": generator.clip,
            "anchors": f32(boxes),
        },
        "ssd300": {
            "input_width": 300, "input_height": 300,
            "feature_maps": ssd300_maps,
            "aspect_ratios": ssd300.aspect_ratios,
            "scales": ssd300.scales, "steps": ssd300.steps, "clip": ssd300.clip,
            "count": ssd300_boxes.shape[0], "every": 16,
            "anchors": f32(ssd300_boxes[::16]),
        },
    }, boxes


def ssd_cases(model, anchor_boxes):
    n = anchor_boxes.shape[0]
    classes = 91
    cases = []
    configs = [
        # name, score, nms, detections, topk, original (h, w), seeds
        ("640x480", 0.02, 0.55, 100, 300, (480, 640), (1, 2)),
        ("500x375_topk20", 0.1, 0.45, 1000, 20, (375, 500), (3, 4)),
    ]
    for name, score, iou, detections, topk, original, (seed_boxes, seed_logits) in configs:
        regression = hashed(seed_boxes, n * 4, -2.0, 2.0).reshape(1, n, 4)
        logits = hashed(seed_logits, n * classes, -4.0, 4.0).reshape(1, n, classes)
        model.score_thresh = score
        model.nms_thresh = iou
        model.detections_per_img = detections
        model.topk_candidates = topk
        out = model.postprocess_detections({"bbox_regression": regression, "cls_logits": logits},
                                           [anchor_boxes], [(320, 320)])
        out = model.transform.postprocess(out, [(320, 320)], [original])[0]
        cases.append({
            "name": name,
            "seed_boxes": seed_boxes, "seed_logits": seed_logits, "classes": classes,
            "score_threshold": score, "iou_threshold": iou, "max_detections": detections,
            "candidates_per_class": topk,
            "source_width": original[1], "source_height": original[0],
            "boxes": f32(out["boxes"]), "scores": f32(out["scores"]),
            "labels": out["labels"].tolist(),
        })
    return {"cases": cases}


def yolo_reference(raw, rows, objectness, sigmoid, strides, width, height, score, iou,
                   per_class, detections, mapping):
    """YOLOv5's non_max_suppression (multi_label=False) in torch, with the
    anchor-free grid decode of YOLOX when `strides` is given."""
    x = raw[0] if rows else raw[0].t()
    fixed = 5 if objectness else 4
    box = x[:, :4].clone()
    if strides:
        grids = []
        for s in strides:
            gy, gx = torch.meshgrid(torch.arange(height // s), torch.arange(width // s),
                                    indexing="ij")
            g = torch.stack([gx.reshape(-1), gy.reshape(-1),
                             torch.full_like(gx.reshape(-1), s)], 1)
            grids.append(g)
        g = torch.cat(grids).to(torch.float32)
        box[:, :2] = (box[:, :2] + g[:, :2]) * g[:, 2:3]
        box[:, 2:4] = torch.exp(box[:, 2:4]) * g[:, 2:3]
    cls = x[:, fixed:]
    if sigmoid:
        cls = torch.sigmoid(cls)
    if objectness:
        obj = torch.sigmoid(x[:, 4:5]) if sigmoid else x[:, 4:5]
        cls = cls * obj
    conf, label = cls.max(1)
    xyxy = torch.stack([box[:, 0] - box[:, 2] / 2, box[:, 1] - box[:, 3] / 2,
                        box[:, 0] + box[:, 2] / 2, box[:, 1] + box[:, 3] / 2], 1)
    keep = conf > score
    xyxy, conf, label = xyxy[keep], conf[keep], label[keep]
    order = torch.sort(conf, descending=True, stable=True)[1]
    taken = {}
    chosen = []
    for i in order.tolist():
        c = int(label[i])
        if taken.get(c, 0) < per_class:
            chosen.append(i)
            taken[c] = taken.get(c, 0) + 1
    chosen = torch.tensor(chosen, dtype=torch.int64)
    xyxy, conf, label = xyxy[chosen], conf[chosen], label[chosen]
    kept = batched_nms(xyxy, conf, label, iou)[:detections]
    xyxy, conf, label = xyxy[kept], conf[kept], label[kept]
    sx, sy, ox, oy, sw, sh = mapping
    out = torch.stack([((xyxy[:, 0] - ox) / sx).clamp(0, sw), ((xyxy[:, 1] - oy) / sy).clamp(0, sh),
                       ((xyxy[:, 2] - ox) / sx).clamp(0, sw), ((xyxy[:, 3] - oy) / sy).clamp(0, sh)],
                      1)
    return out, conf, label


def yolo_cases(gen):
    cases = []
    # Rows, objectness, scores as probabilities, boxes in input pixels:
    # clusters of candidates around objects, as a YOLOv5 head gives.
    width, height, classes = 128, 96, 6
    rows = []
    for _ in range(40):
        c = torch.rand(4, generator=gen) * torch.tensor([width, height, 40, 30]) + torch.tensor(
            [0, 0, 4, 4])
        cls = torch.rand(classes, generator=gen) ** 3
        for _ in range(int(torch.randint(1, 9, (1,), generator=gen))):
            jitter = (torch.rand(4, generator=gen) - 0.5) * 4
            obj = torch.rand(1, generator=gen)
            rows.append(torch.cat([c + jitter, obj,
                                   (cls + torch.rand(classes, generator=gen) * 0.1).clamp(0, 1)]))
    raw = torch.stack(rows).to(torch.float32)[None]
    mapping = (0.5, 0.5, 0.0, 8.0, 256, 160)
    boxes, scores, labels = yolo_reference(raw, True, True, False, [], width, height, 0.25, 0.45,
                                           50, 20, mapping)
    cases.append({
        "name": "rows_objectness_pixels", "layout": "rows", "objectness": True, "sigmoid": False,
        "strides": [], "input_width": width, "input_height": height,
        "score_threshold": 0.25, "iou_threshold": 0.45, "candidates_per_class": 50,
        "max_detections": 20, "mapping": list(mapping),
        "shape": list(raw.shape), "output": f32(raw),
        "boxes": f32(boxes), "scores": f32(scores), "labels": labels.tolist(),
    })
    # Columns, no objectness, logits, anchor-free grid offsets (YOLOX-like).
    width, height, classes, strides = 64, 64, 3, [8, 16, 32]
    n = sum((width // s) * (height // s) for s in strides)
    t = torch.cat([torch.rand(n, 2, generator=gen), torch.rand(n, 2, generator=gen) * 2.5 - 1,
                   torch.rand(n, classes, generator=gen) * 7 - 4], 1)
    raw = t.t().contiguous().to(torch.float32)[None]
    mapping = (0.25, 0.25, 0.0, 0.0, 256, 256)
    boxes, scores, labels = yolo_reference(raw, False, False, True, strides, width, height, 0.5,
                                           0.5, 300, 100, mapping)
    cases.append({
        "name": "columns_sigmoid_grid", "layout": "columns", "objectness": False, "sigmoid": True,
        "strides": strides, "input_width": width, "input_height": height,
        "score_threshold": 0.5, "iou_threshold": 0.5, "candidates_per_class": 300,
        "max_detections": 100, "mapping": list(mapping),
        "shape": list(raw.shape), "output": f32(raw),
        "boxes": f32(boxes), "scores": f32(scores), "labels": labels.tolist(),
    })
    return {"cases": cases}


def write(directory, name, data):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {os.path.getsize(path)} bytes")


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "postprocess", "golden"))
    os.makedirs(directory, exist_ok=True)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    write(directory, "nms.json", nms_cases(gen))
    model = ssdlite()
    anchor_data, anchor_boxes = anchors(model)
    write(directory, "anchors.json", anchor_data)
    write(directory, "ssd.json", ssd_cases(model, anchor_boxes))
    write(directory, "yolo.json", yolo_cases(gen))


if __name__ == "__main__":
    main()
