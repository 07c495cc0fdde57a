#!/usr/bin/python3
"""OpenCV's Haar cascade (the original demo's detector and settings) on a raw 640x480 RGB file:
median milliseconds over RUNS, printed as JSON.   haar_opencv.py CASCADE RAW THREADS RUNS"""
import json
import sys
import time

import cv2
import numpy as np

cascade_path, raw, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cv2.setNumThreads(threads)
cascade = cv2.CascadeClassifier(cascade_path)
rgb = np.fromfile(raw, dtype=np.uint8).reshape(480, 640, 3)
times = []
for i in range(runs + 2):
    t0 = time.perf_counter()
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    faces = cascade.detectMultiScale(grey, scaleFactor=1.2, minNeighbors=10, minSize=(64, 64))
    if i >= 2:
        times.append((time.perf_counter() - t0) * 1e3)
times.sort()
print(json.dumps({"peer": "opencv %s haar" % cv2.__version__, "median_ms": times[len(times) // 2], "faces": len(faces)}))
