"""Camera people counting at the edge: video → detect → track → line crossings, zone occupancy, floor positions.

Modules, in the order a frame meets them::

    source.py        files, RTSP/HTTP streams, local cameras (OpenCV), reconnect with back-off
    detect.py        the Detections type and the detector factory (``type`` in the config picks one)
    detect_motion.py weight-free overhead detector: background subtraction and blob analysis
    detect_onnx.py   YOLOv8-style ONNX models on onnxruntime (no torch at the edge)
    detect_ultra.py  ultralytics YOLO ``.pt`` models (needs torch; optional)
    models.py        which model files are supported, where they come from, clear errors when missing
    track.py         ByteTrack-style tracker (two-stage association by score, lost-track buffer)
    lines.py         in/out counting per line: segment crossing with hysteresis, direction by the inside point
    zones.py         zone occupancy and dwell
    homography.py    image ↔ floor mapping calibrated from the site file's points
    pipeline.py      detector + tracker + counting for one camera (no I/O)
    collector.py     pipeline results → contract observations → the sensor's outbox streams
    node.py          run one camera sensor: source → collector → outbox → MQTT
    evaluate.py      ground truth files, matching, precision/recall/count error
    synthetic.py     rendered test videos with exact ground truth
    cli.py           ``mallsense camera`` and ``mallsense camera-eval``

No image or crop leaves the process: only counts, occupancy and floor positions are published (docs/camera.md).
"""
