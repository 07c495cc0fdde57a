#!/usr/bin/python3
"""Golden Haar detections from OpenCV (python3-opencv) with the original demo's settings.
    haar.py CASCADE OUT.json IMAGE..."""
import json
import os
import sys

import cv2

cascade = cv2.CascadeClassifier(sys.argv[1])
out = {}
for path in sys.argv[3:]:
    grey = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY)
    faces = cascade.detectMultiScale(grey, scaleFactor=1.2, minNeighbors=10, minSize=(64, 64))
    out[os.path.basename(path)] = [[int(v) for v in f] for f in faces]
json.dump({"opencv": cv2.__version__, "scaleFactor": 1.2, "minNeighbors": 10, "minSize": 64, "faces": out},
          open(sys.argv[2], "w"), indent=1)
