"""faceid for Python: face detection, descriptors, verification, galleries and live identification,
backed by libfaceid (ctypes; images are numpy arrays, PIL images, paths, bytes or file objects).

    import faceid
    with faceid.Gallery("people.db") as g:
        g.enroll("alice", [faceid.load_image("alice.jpg")])
        for face in g.identify(faceid.load_image("group.jpg")):
            print(face.name, face.box, face.distance)

face_recognition's functions are here too, with its names and (top, right, bottom, left) boxes
(docs/python.md): `import faceid as face_recognition` runs its examples. Images may be arrays
(RGB, RGBA, grey, float), PIL images, paths, bytes or binary file objects.

Errors are faceid.Error, carrying the library's one-line message and status. The library is
found through FID_LIBRARY (a path), else the one `pip install` recorded, else beside an install
under a prefix, else as the system's libfaceid.so.0, else in a source checkout's build/.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import json
import math
import os
import threading
from dataclasses import dataclass
from typing import Iterator, Iterable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Error", "EnrollmentRefused", "Box", "Detection", "Face", "Match", "Track", "Frame", "Verification",
           "Detector", "Embedder", "Gallery", "load_image", "verify", "live", "version", "build_features", "model_dir",
           # face_recognition's functions, same names and shapes
           "load_image_file", "face_locations", "batch_face_locations", "face_encodings", "face_landmarks",
           "face_distance", "compare_faces"]


def _load() -> ctypes.CDLL:
    # libgomp reads its spin policy once, when it loads: bounded spinning, as the CLI runs it
    # (fid_bounded_spin_wait), unless the user chose otherwise
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    tried = []
    env = os.environ.get("FID_LIBRARY")
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [env] if env else []
    try:  # pip install from the source tree recorded the library it was built beside
        from ._library import LIBRARY
        candidates.append(LIBRARY)
    except ImportError:
        pass
    # installed: PREFIX/lib[/multiarch]/libfaceid.so.0 beside PREFIX/lib/python3*/dist-packages/faceid
    up = here
    for _ in range(5):
        up = os.path.dirname(up)
        candidates += [os.path.join(up, "lib", "libfaceid.so.0")] + sorted(
            glob.glob(os.path.join(up, "lib", "*", "libfaceid.so.0")))
    candidates += ["libfaceid.so.0", ctypes.util.find_library("faceid"),
                   os.path.join(here, "..", "..", "build", "libfaceid.so.0")]
    for c in candidates:
        if not c:
            continue
        if os.sep in c and not os.path.exists(c):
            continue
        try:
            return ctypes.CDLL(c)
        except OSError as e:
            tried.append(f"{c}: {e}")
    raise ImportError("faceid: libfaceid.so.0 not found (make install, or set FID_LIBRARY): " + "; ".join(tried))


_lib = _load()


class Error(Exception):
    """A failure reported by libfaceid: `status` is its fid_status, str() its one-line message."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class EnrollmentRefused(Error):
    """Gallery.enroll() kept nothing (or, with strict=True, not every image): `reports` has one
    dict per image, {"image", "verdict", "gate", "value", "limit", "faces", "kept"}, and `gate`,
    `value`, `limit` and `image` repeat the first refusal's, e.g. gate "sharpness", value 3.1 <
    limit 4: the measured value and the limit it missed (0 and 0 for "no face")."""

    def __init__(self, message: str, reports: List[dict]):
        super().__init__(message, 0)
        self.reports = reports
        first = next((r for r in reports if not r["kept"]), reports[0] if reports else {})
        self.image, self.verdict = first.get("image"), first.get("verdict")
        self.gate, self.value, self.limit = first.get("gate", ""), first.get("value", 0.0), first.get("limit", 0.0)


# ---- the C types this binding passes by value or reads (mirrors of include/faceid.h) ----------

class _Box(ctypes.Structure):
    _c_ = "fid_box"
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float), ("width", ctypes.c_float), ("height", ctypes.c_float)]


class _Point(ctypes.Structure):
    _c_ = "fid_point"
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float)]


class _DetectorParams(ctypes.Structure):
    _c_ = "fid_detector_params"
    _fields_ = [("kind", ctypes.c_int), ("score_threshold", ctypes.c_float), ("iou_threshold", ctypes.c_float),
                ("max_faces", ctypes.c_int), ("min_face_size", ctypes.c_int), ("input_size", ctypes.c_int),
                ("threads", ctypes.c_int), ("precision", ctypes.c_int), ("tile_face", ctypes.c_int)]


class _Detection(ctypes.Structure):
    _c_ = "fid_detection"
    _fields_ = [("box", _Box), ("score", ctypes.c_float), ("n_keypoints", ctypes.c_int), ("keypoints", _Point * 6)]


class _EmbedderParams(ctypes.Structure):
    _c_ = "fid_embedder_params"
    _fields_ = [("profile", ctypes.c_char_p), ("threads", ctypes.c_int), ("precision", ctypes.c_int),
                ("model_path", ctypes.c_char_p),
                ("mean", ctypes.c_float * 3), ("scale", ctypes.c_float), ("bgr", ctypes.c_int),
                ("alignment", ctypes.c_int), ("refine_passes", ctypes.c_int)]


class _Face(ctypes.Structure):
    _c_ = "fid_face"
    _fields_ = [("box", _Box), ("score", ctypes.c_float), ("landmarks", _Point * 68), ("aligned", _Box),
                ("crop", _Box), ("unsettled", ctypes.c_float)]


class _GalleryParams(ctypes.Structure):
    _c_ = "fid_gallery_params"
    _fields_ = [("model", ctypes.c_char_p), ("dim", ctypes.c_int), ("readonly", ctypes.c_int)]


class _PersonInfo(ctypes.Structure):
    _c_ = "fid_person_info"
    _fields_ = [("name", ctypes.c_char * 208), ("samples", ctypes.c_int)]


class _Match(ctypes.Structure):
    _c_ = "fid_match"
    _fields_ = [("name", ctypes.c_char * 208), ("known", ctypes.c_int), ("distance", ctypes.c_float),
                ("candidate", ctypes.c_char * 208), ("second", ctypes.c_char * 208),
                ("second_distance", ctypes.c_float), ("margin", ctypes.c_float), ("threshold", ctypes.c_float),
                ("rejected", ctypes.c_int)]


class _SampleInfo(ctypes.Structure):
    _c_ = "fid_sample_info"
    _fields_ = [("id", ctypes.c_int64), ("created", ctypes.c_double), ("quality", ctypes.c_float),
                ("source", ctypes.c_char * 256), ("has_crop", ctypes.c_int)]


class _TrackInfo(ctypes.Structure):
    _c_ = "fid_track_info"
    _fields_ = [("id", ctypes.c_int), ("box", _Box), ("score", ctypes.c_float), ("name", ctypes.c_char * 208),
                ("distance", ctypes.c_float), ("first_seen", ctypes.c_int64), ("last_seen", ctypes.c_int64),
                ("hits", ctypes.c_int)]


class _PipelineEvent(ctypes.Structure):
    _c_ = "fid_pipeline_event"
    _fields_ = [("kind", ctypes.c_int), ("frame", ctypes.c_int64), ("seconds", ctypes.c_double),
                ("wall", ctypes.c_double), ("track", _TrackInfo), ("source", ctypes.c_char_p)]


class _PipelineResult(ctypes.Structure):
    _c_ = "fid_pipeline_result"
    _fields_ = [("image", ctypes.c_void_p), ("frame", ctypes.c_int64), ("seconds", ctypes.c_double),
                ("wall", ctypes.c_double), ("latency", ctypes.c_double), ("n_tracks", ctypes.c_int),
                ("tracks", ctypes.POINTER(_TrackInfo)), ("n_events", ctypes.c_int),
                ("events", ctypes.POINTER(_PipelineEvent))]


class _TrackerParams(ctypes.Structure):
    _c_ = "fid_tracker_params"
    _fields_ = [("min_iou", ctypes.c_float), ("max_misses", ctypes.c_int), ("recheck_frames", ctypes.c_int),
                ("votes", ctypes.c_int)]


class _PipelineParams(ctypes.Structure):
    _c_ = "fid_pipeline_params"
    _fields_ = [("name", ctypes.c_char_p), ("detector", _DetectorParams), ("tracker", _TrackerParams),
                ("roi", _Box), ("detect_workers", ctypes.c_int), ("deterministic", ctypes.c_int)]


class _EnrollReport(ctypes.Structure):
    _c_ = "fid_enroll_report"
    _fields_ = [("verdict", ctypes.c_int), ("gate", ctypes.c_char_p), ("value", ctypes.c_float),
                ("limit", ctypes.c_float), ("faces", ctypes.c_int), ("box", _Box), ("score", ctypes.c_float),
                ("forced", ctypes.c_int), ("sharpness", ctypes.c_float), ("turn", ctypes.c_float)]


_st = ctypes.POINTER(ctypes.c_int)
_vp = ctypes.c_void_p


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype, f.argtypes = restype, list(argtypes)
    return f


_last_error = _fn("fid_last_error", ctypes.c_char_p)
_strerror = _fn("fid_strerror", ctypes.c_char_p, ctypes.c_int)
_version = _fn("fid_version", ctypes.c_char_p)
_features = _fn("fid_build_features", ctypes.c_char_p)
_model_dir = _fn("fid_model_dir", ctypes.c_char_p)
_image_load = _fn("fid_image_load", _vp, ctypes.c_char_p, _st)
_image_from_rgb = _fn("fid_image_from_rgb", _vp, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, _st)
_image_free = _fn("fid_image_free", None, _vp)
_image_width = _fn("fid_image_width", ctypes.c_int, _vp)
_image_height = _fn("fid_image_height", ctypes.c_int, _vp)
_image_rgb = _fn("fid_image_rgb", ctypes.POINTER(ctypes.c_uint8), _vp)
_det_defaults = _fn("fid_detector_default_params", _DetectorParams, ctypes.c_int)
_det_kind = _fn("fid_detector_kind_from_name", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int))
_det_create = _fn("fid_detector_create", _vp, ctypes.POINTER(_DetectorParams), _st)
_det_free = _fn("fid_detector_free", None, _vp)
_det_run = _fn("fid_detector_run", ctypes.c_int, _vp, _vp, ctypes.POINTER(_Detection), ctypes.c_int, _st)
_emb_defaults = _fn("fid_embedder_default_params", _EmbedderParams)
_emb_create = _fn("fid_embedder_create", _vp, ctypes.POINTER(_EmbedderParams), _st)
_emb_free = _fn("fid_embedder_free", None, _vp)
_emb_dim = _fn("fid_embedder_dim", ctypes.c_int, _vp)
_emb_model_id = _fn("fid_embedder_model_id", ctypes.c_char_p, _vp)
_emb_describe = _fn("fid_embedder_describe", ctypes.c_int, _vp, _vp, ctypes.POINTER(_Detection),
                    ctypes.POINTER(_Face), ctypes.POINTER(ctypes.c_float))
_emb_distance = _fn("fid_embedder_distance", ctypes.c_float, _vp, ctypes.POINTER(ctypes.c_float),
                    ctypes.POINTER(ctypes.c_float))
_emb_threshold = _fn("fid_embedder_threshold", ctypes.c_float, _vp)
_gal_defaults = _fn("fid_gallery_default_params", _GalleryParams)
_gal_open = _fn("fid_gallery_open", _vp, ctypes.c_char_p, ctypes.POINTER(_GalleryParams), _st)
_gal_close = _fn("fid_gallery_close", None, _vp)
_gal_add = _fn("fid_gallery_add", ctypes.c_int, _vp, ctypes.c_char_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int,
               ctypes.POINTER(ctypes.c_float), ctypes.c_char_p)
_gal_remove = _fn("fid_gallery_remove", ctypes.c_int, _vp, ctypes.c_char_p)
_gal_rename = _fn("fid_gallery_rename", ctypes.c_int, _vp, ctypes.c_char_p, ctypes.c_char_p)
_gal_people = _fn("fid_gallery_people", ctypes.c_int, _vp, ctypes.POINTER(_PersonInfo), ctypes.c_int, _st)
_gal_add_enrollment = _fn("fid_gallery_add_enrollment", ctypes.c_int, _vp, ctypes.c_char_p, _vp)
_gal_sample_list = _fn("fid_gallery_sample_list", ctypes.c_int, _vp, ctypes.c_char_p, ctypes.POINTER(_SampleInfo),
                       ctypes.c_int, _st)
_gal_sample_crop = _fn("fid_gallery_sample_crop", ctypes.c_int, _vp, ctypes.c_char_p, ctypes.c_int64,
                       ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)), ctypes.POINTER(ctypes.c_size_t))
_gal_sample_remove = _fn("fid_gallery_sample_remove", ctypes.c_int, _vp, ctypes.c_char_p, ctypes.c_int64)
_gal_sample_move = _fn("fid_gallery_sample_move", ctypes.c_int, _vp, ctypes.c_char_p, ctypes.c_int64, ctypes.c_char_p)
_gal_merge = _fn("fid_gallery_merge", ctypes.c_int, _vp, ctypes.c_char_p, ctypes.c_char_p)
_gal_reject = _fn("fid_gallery_reject", ctypes.c_int, _vp, ctypes.c_char_p, ctypes.POINTER(ctypes.c_float),
                  ctypes.c_char_p)
_free = _fn("fid_free", None, _vp)
_matcher_create = _fn("fid_matcher_create", _vp, _vp, _vp, _st)
_matcher_free = _fn("fid_matcher_free", None, _vp)
_matcher_match = _fn("fid_matcher_match", ctypes.c_int, _vp, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(_Match))
_enr_begin = _fn("fid_enrollment_begin", _vp, _vp, _vp, _vp, _st)
_enr_free = _fn("fid_enrollment_free", None, _vp)
_verdict_text = _fn("fid_enroll_verdict_text", ctypes.c_char_p, ctypes.c_int)
_enr_photo = _fn("fid_enrollment_add_photo", ctypes.c_int, _vp, _vp, ctypes.c_char_p, ctypes.c_int, _vp)
_enr_count = _fn("fid_enrollment_count", ctypes.c_int, _vp)
_enr_sample = _fn("fid_enrollment_sample", ctypes.c_int, _vp, ctypes.c_int, ctypes.POINTER(ctypes.c_float),
                  ctypes.POINTER(ctypes.c_float), _vp, _vp, _vp)
_idf_create = _fn("fid_identifier_create", _vp, _vp, _vp, _vp, _st)
_idf_free = _fn("fid_identifier_free", None, _vp)
_pl_create = _fn("fid_pipeline_create", _vp, _vp, _vp, _st)
_pl_free = _fn("fid_pipeline_free", None, _vp)
_pl_open = _fn("fid_pipeline_open", ctypes.c_int, _vp, ctypes.c_char_p, _vp)
_pl_next = _fn("fid_pipeline_next", ctypes.c_int, _vp, ctypes.c_double, ctypes.POINTER(_PipelineResult))
_pl_stop = _fn("fid_pipeline_stop", None, _vp)

_OK, _AGAIN, _END = 0, 8, 9
_VERDICTS = ("kept", "no face", "too small", "low score", "blurry", "pose", "duplicate", "not best", "not a face")
def _refusal_text(r: dict) -> str:
    """One image's refusal as the CLI words it, e.g. "a.jpg: face too blurry (sharpness 3.1, needs 4)"."""
    why = _text(_verdict_text(_VERDICTS.index(r["verdict"]))) if r["verdict"] in _VERDICTS else r["verdict"]
    several = "several faces, the largest: " if r["faces"] > 1 else ""
    detail = ""
    if r["limit"] > 0:
        detail = f" ({r['gate']} {r['value']:.3g}, {'limit' if r['verdict'] == 'pose' else 'needs'} {r['limit']:.3g})"
    return f"{r['image']}: {several}{why}{detail}"


def _fail(status: int):
    msg = _last_error()
    raise Error((msg or _strerror(status)).decode("utf-8", "replace"), status)


def _check(status: int):
    if status != _OK:
        _fail(status)


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _name(name, what: str = "name") -> bytes:
    """A person's name as the library takes it: a str without NUL (ctypes would pass the part
    before it, naming someone else); the library checks the rest (fid_person_name_check)."""
    if not isinstance(name, str):
        raise Error(f"a {what} is a str, not {type(name).__name__}", 1)
    if "\0" in name:
        raise Error(f"a {what} cannot hold a NUL character: {name!r}", 1)
    return name.encode("utf-8", "strict")


def _path(path) -> bytes:
    b = os.fsencode(path)
    if b"\0" in b:
        raise Error(f"a path cannot hold a NUL character: {path!r}", 1)
    return b


def _vector(a, dim: int, what: str = "descriptor") -> np.ndarray:
    """A descriptor as the library reads it: exactly dim finite float32 values, one row. Anything
    else is an Error (a short array would be read past its end, a second row silently ignored)."""
    try:
        v = np.asarray(a)
    except Exception as e:  # e.g. a ragged list
        raise Error(f"a {what} is an array of {dim} numbers: {e}", 1) from None
    if v.dtype.kind not in "fiu" or v.ndim != 1 or v.shape[0] != dim:
        raise Error(f"a {what} is a 1-D array of {dim} numbers, not {v.dtype} {v.shape}", 1)
    v = np.ascontiguousarray(v, dtype=np.float32)
    if not np.all(np.isfinite(v)):
        raise Error(f"a {what} must be finite (it holds NaN or infinity)", 1)
    return v


def version() -> str:
    """libfaceid's version."""
    return _text(_version())


def build_features() -> str:
    """What this libfaceid can load beyond the shipped models, e.g. "+onnx +keras-h5"."""
    return _text(_features())


def model_dir() -> str:
    """Where libfaceid reads its models (FID_MODEL_DIR, else share/faceid/models beside it)."""
    return _text(_model_dir())


# ---- images -----------------------------------------------------------------------------------

_image_decode = _fn("fid_image_decode", _vp, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, _st)


def _rgb_array(a: np.ndarray) -> np.ndarray:
    """Any image array as H x W x 3 uint8 RGB: grey (H x W or H x W x 1), RGB, RGBA (alpha
    dropped); uint8, bool, uint16 (scaled), other integers within 0..255, floats in 0..1 (as
    Pillow, scikit-image and matplotlib give them) or in 0..255. Anything else is an Error, never a
    silent guess: BGR cannot be told from RGB, so OpenCV's arrays need cv2.cvtColor first."""
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise Error(f"an image array is H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA), not {a.shape}", 1)
    if a.shape[2] == 4:
        a = a[:, :, :3]
    kind = a.dtype.kind
    if a.dtype == np.uint8:
        pass
    elif kind == "b":
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif kind in "iu":
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise Error(f"an integer image array holds 0..255 (uint16: 0..65535), not {lo}..{hi}", 1)
        a = a.astype(np.uint8)
    elif kind == "f":
        if not np.all(np.isfinite(a)):
            raise Error("a float image array must be finite (it holds NaN or infinity)", 1)
        lo, hi = float(a.min()), float(a.max())
        if lo < 0 or hi > 255:
            raise Error(f"a float image array holds 0..1 or 0..255, not {lo:g}..{hi:g}", 1)
        a = np.rint(a * 255 if hi <= 1.0 else a).astype(np.uint8)
    else:
        raise Error(f"an image array holds numbers, not {a.dtype}", 1)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)


def _is_pil(x) -> bool:
    return type(x).__module__.startswith("PIL.") and hasattr(x, "convert") and hasattr(x, "size")


class _Image:
    """A libfaceid image (owned; freed when collected) from anything an image is given as: a numpy
    array (see _rgb_array), a PIL image, a path (str or os.PathLike), bytes of a JPEG, PNG or WebP
    file, or a binary file object. `name` is what error messages call it."""

    def __init__(self, image, name: Optional[str] = None):
        st = ctypes.c_int(0)
        self.ptr = None
        self.name = name
        if isinstance(image, _Image):
            raise Error("internal: an _Image wrapped twice", 1)
        if _is_pil(image):
            image = np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
        if isinstance(image, np.ndarray):
            a = _rgb_array(image)
            self.ptr = _image_from_rgb(a.shape[1], a.shape[0], a.ctypes.data, a.strides[0], ctypes.byref(st))
        elif isinstance(image, (str, os.PathLike)):
            self.name = self.name or os.fsdecode(image)
            self.ptr = _image_load(_path(image), ctypes.byref(st))
        else:
            data = _read_bytes(image)
            label = (self.name or getattr(image, "name", None) or "image bytes")
            self.name = self.name or str(label)
            self.ptr = _image_decode(data, len(data), _path(str(label)), ctypes.byref(st))
        if not self.ptr:
            _fail(st.value)

    def __del__(self):
        if getattr(self, "ptr", None):
            _image_free(self.ptr)
            self.ptr = None


def _read_bytes(x) -> bytes:
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    if hasattr(x, "read"):
        data = x.read()
        if isinstance(data, str):
            raise Error("an image file object must be opened in binary mode ('rb')", 1)
        return bytes(data)
    raise Error("an image is a numpy array, a PIL image, a path, bytes or a binary file object, not "
                f"{type(x).__name__}", 1)


def _to_array(ptr) -> np.ndarray:
    w, h = _image_width(ptr), _image_height(ptr)
    return np.ctypeslib.as_array(_image_rgb(ptr), shape=(h, w, 3)).copy()


def load_image(image) -> np.ndarray:
    """A JPEG, PNG or WebP image (EXIF orientation applied) as an H x W x 3 uint8 RGB array, from a
    path, a binary file object or bytes; an array or PIL image is converted the same way."""
    im = _Image(image)  # held until copied: its destructor frees the pixels
    return _to_array(im.ptr)


def load_image_file(file, mode: str = "RGB") -> np.ndarray:
    """face_recognition.load_image_file: a path or binary file object as an H x W x 3 uint8 RGB
    array, or H x W grey with mode="L" (ITU-R 601 luma, as Pillow computes it)."""
    a = load_image(file)
    if mode == "RGB":
        return a
    if mode == "L":
        return ((a[:, :, 0].astype(np.uint32) * 19595 + a[:, :, 1].astype(np.uint32) * 38470 +
                 a[:, :, 2].astype(np.uint32) * 7471 + 0x8000) >> 16).astype(np.uint8)
    raise Error(f"mode is 'RGB' or 'L', not {mode!r}", 1)


# ---- results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Box:
    """Pixels, the top-left corner and the size (as faceid's CLI, API and events give boxes)."""
    x: float
    y: float
    width: float
    height: float

    @property
    def css(self) -> Tuple[int, int, int, int]:
        """face_recognition's order: (top, right, bottom, left), whole pixels."""
        return (int(round(self.y)), int(round(self.x + self.width)), int(round(self.y + self.height)),
                int(round(self.x)))

    @staticmethod
    def from_css(location) -> "Box":
        """A box from face_recognition's (top, right, bottom, left)."""
        try:
            top, right, bottom, left = (float(v) for v in location)
        except (TypeError, ValueError):
            raise Error(f"a face location is (top, right, bottom, left), not {location!r}", 1) from None
        if not all(math.isfinite(v) for v in (top, right, bottom, left)) or right <= left or bottom <= top:
            raise Error(f"a face location (top, right, bottom, left) must be finite with right > left and "
                        f"bottom > top, not {tuple(location)!r}", 1)
        return Box(left, top, right - left, bottom - top)


def _box(b: _Box) -> Box:
    return Box(float(b.x), float(b.y), float(b.width), float(b.height))


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    keypoints: Tuple[Tuple[float, float], ...]  # BlazeFace: eyes, nose, mouth, ears; else ()


@dataclass(frozen=True)
class Face:
    """A face identified in an image: name is "?" for a stranger (distance then None)."""
    box: Box
    score: float
    name: str
    distance: Optional[float]
    descriptor: np.ndarray


@dataclass(frozen=True)
class Match:
    name: str
    known: bool
    distance: float
    # what decided: the threshold the distance was held against, the runner-up and the margin to it
    threshold: float = float("nan")
    second: str = ""
    margin: float = float("inf")


@dataclass(frozen=True)
class Track:
    id: int
    box: Box
    score: float
    name: str
    distance: Optional[float]


@dataclass(frozen=True)
class Frame:
    """One processed frame of a live source: the image, the tracks seen in it, the events since
    the previous frame (dicts as in faceid's events file)."""
    index: int
    seconds: float
    image: np.ndarray
    tracks: List[Track]
    events: List[dict]


# ---- the models ---------------------------------------------------------------------------------

class _Handle:
    """A libfaceid handle: freed by close(), at the end of a with block, or when collected.
    Models and galleries keep per-call state and ctypes lets go of the GIL during a call: every
    call on a handle holds its lock, so threads sharing one take turns instead of corrupting it."""
    _ptr = None
    _free = None  # the C function that frees _ptr

    @property
    def _lock(self):
        lock = self.__dict__.get("_lock_")
        if lock is None:
            lock = self.__dict__.setdefault("_lock_", threading.RLock())
        return lock

    def _live(self):
        if not self._ptr:
            raise Error(f"this {type(self).__name__} is closed", 1)
        return self._ptr

    def close(self):
        with self._lock:
            if self._ptr:
                self._free(self._ptr)
                self._ptr = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Detector(_Handle):
    """A face detector: "blazeface" (default), "ssd", "tiny" or "haar". One per thread."""
    _free = _det_free

    def __init__(self, kind: str = "blazeface", *, threads: int = 1, min_face_size: int = 0,
                 score_threshold: Optional[float] = None, precision: str = "auto", tile_face: Optional[int] = None):
        k = ctypes.c_int(0)
        _check(_det_kind(kind.encode(), ctypes.byref(k)))
        p = _det_defaults(k.value)
        p.threads, p.min_face_size, p.precision = threads, min_face_size, _precision(precision)
        if tile_face is not None:  # smallest face to find in large images by tiles; 0: the whole image only
            p.tile_face = tile_face
        if score_threshold is not None:
            p.score_threshold = score_threshold
        st = ctypes.c_int(0)
        self._ptr = _det_create(ctypes.byref(p), ctypes.byref(st))
        if not self._ptr:
            _fail(st.value)

    def _run(self, image: _Image) -> List[_Detection]:
        cap = 64
        while True:
            out = (_Detection * cap)()
            st = ctypes.c_int(0)
            with self._lock:
                n = _det_run(self._live(), image.ptr, out, cap, ctypes.byref(st))
            if n < 0:
                _fail(st.value)
            if n <= cap:
                return list(out[:n])
            cap = n

    def detect(self, image: np.ndarray) -> List[Detection]:
        """The faces in an image, best first."""
        return [Detection(_box(d.box), float(d.score), tuple((p.x, p.y) for p in d.keypoints[:d.n_keypoints]))
                for d in self._run(_Image(image))]



_prec_from_name = _fn("fid_precision_from_name", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int))
_prec_name = _fn("fid_precision_name", ctypes.c_char_p, ctypes.c_int)
_emb_precision = _fn("fid_embedder_precision", ctypes.c_int, _vp, ctypes.POINTER(ctypes.c_char_p),
                     ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_char_p))


def _precision(name: str) -> int:
    """"auto", "fp32", "bf16" or "int8" (see README "Precision")."""
    v = ctypes.c_int(0)
    _check(_prec_from_name(name.encode(), ctypes.byref(v)))
    return v.value


class Embedder(_Handle):
    """Face descriptors: the profile "faceapi-128" (default, shipped), or e.g. "vggface2-resnet50" or
    "onnx" with model_path. One per thread."""
    _free = _emb_free

    def __init__(self, profile: Optional[str] = None, *, model_path: Optional[str] = None, threads: int = 1,
                 precision: str = "auto", alignment: str = "landmarks", refine_passes: int = 0):
        p = _emb_defaults()
        p.precision = _precision(precision)
        if alignment not in ("landmarks", "detector"):
            raise Error(f"alignment must be 'landmarks' or 'detector', not {alignment!r}", 1)
        p.alignment = 1 if alignment == "landmarks" else 0
        if refine_passes > 0:  # else the library's default (4); live video uses 2
            p.refine_passes = refine_passes
        self._keep = [profile.encode() if profile else None, os.fsencode(model_path) if model_path else None]
        if profile:
            p.profile = self._keep[0]
        if model_path:
            p.model_path = self._keep[1]
        p.threads = threads
        st = ctypes.c_int(0)
        self._ptr = _emb_create(ctypes.byref(p), ctypes.byref(st))
        if not self._ptr:
            _fail(st.value)
        self.dim = _emb_dim(self._ptr)
        note, lnote, lprec = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_int(0)
        prec = _emb_precision(self._ptr, ctypes.byref(note), ctypes.byref(lprec), ctypes.byref(lnote))
        #: what each network computes with and why, e.g. {"descriptors": ("int8", "int8: 2.3x faster ...")}
        self.precision = {"descriptors": (_text(_prec_name(prec)), _text(note.value)),
                          "landmarks": (_text(_prec_name(lprec.value)), _text(lnote.value))}
        self.model_id = _text(_emb_model_id(self._ptr))
        self.threshold = float(_emb_threshold(self._ptr))

    def _describe_face(self, image: _Image, d: _Detection) -> Tuple[np.ndarray, _Face]:
        """The descriptor (float32, dim) of a detected face and the fid_face it was aligned on."""
        out = np.empty(self.dim, dtype=np.float32)
        face = _Face()
        with self._lock:
            _check(_emb_describe(self._live(), image.ptr, ctypes.byref(d), ctypes.byref(face),
                                 out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))))
        return out, face

    def _describe(self, image: _Image, d: _Detection) -> np.ndarray:
        return self._describe_face(image, d)[0]

    def _landmarks(self, image: _Image, d: _Detection) -> List[Tuple[float, float]]:
        """The 68 landmarks (image pixels) the descriptor of this face is aligned on."""
        return [(float(p.x), float(p.y)) for p in self._describe_face(image, d)[1].landmarks]

    def embed(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """The descriptor (float32, dim) of a detected face."""
        b = detection.box
        if not all(math.isfinite(v) for v in (b.x, b.y, b.width, b.height)) or b.width <= 0 or b.height <= 0:
            raise Error(f"a detection's box must be finite with a positive size, not {b}", 1)
        d = _Detection()
        d.box = _Box(b.x, b.y, b.width, b.height)
        d.score = detection.score
        # BlazeFace's keypoints place the landmark net's first frame (see fid_alignment)
        kp = list(detection.keypoints or ())[:6]
        d.n_keypoints = len(kp)
        for i, (x, y) in enumerate(kp):
            if not (math.isfinite(x) and math.isfinite(y)):
                raise Error("a detection's keypoints must be finite", 1)
            d.keypoints[i].x, d.keypoints[i].y = x, y
        return self._describe(_Image(image), d)

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Distance in the model's metric; below `threshold`, the same person."""
        a, b = _vector(a, self.dim), _vector(b, self.dim)
        return float(_emb_distance(self._live(), a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                   b.ctypes.data_as(ctypes.POINTER(ctypes.c_float))))



_default = threading.local()


def _models() -> Tuple[Detector, Embedder]:
    """This thread's default models: each thread its own, so threads run side by side."""
    if getattr(_default, "models", None) is None:
        _default.models = (Detector(), Embedder())
    return _default.models


class Verification(tuple):
    """verify()'s answer: unpacks as (same, distance), and says which face of each image it
    compared (`box_a`, `box_b`) and against which threshold."""

    def __new__(cls, same: bool, distance: float, threshold: float, box_a: Box, box_b: Box):
        v = super().__new__(cls, (same, distance))
        v.same, v.distance, v.threshold, v.box_a, v.box_b = same, distance, threshold, box_a, box_b
        return v

    def __repr__(self):
        return (f"Verification(same={self.same}, distance={self.distance:.4f}, threshold={self.threshold:.4f}, "
                f"box_a={self.box_a}, box_b={self.box_b})")


def _one_face(det: Detector, emb: Embedder, image, which, label: str) -> Tuple[np.ndarray, Box]:
    """The descriptor and box of the face verify() compares: the image's only face, or the one
    `which` names (an index into face_locations()' order, or a (top, right, bottom, left) box)."""
    im = _Image(image, label)
    if which is not None and not isinstance(which, (int, np.integer)):
        d = _detection_from_css(which)
        return emb._describe(im, d), _box(d.box)
    ds = det._run(im)
    if not ds:
        raise Error(f"{im.name or label}: no face found", 0)
    if which is None:
        if len(ds) > 1:
            raise Error(f"{im.name or label}: {len(ds)} faces; say which one to compare "
                        f"(face_{label[-1]}=index in face_locations() order, or a (top, right, bottom, left) box)", 1)
        which = 0
    if not 0 <= int(which) < len(ds):
        raise Error(f"{im.name or label}: face {int(which)} asked for, {len(ds)} found", 1)
    d = ds[int(which)]
    return emb._describe(im, d), _box(d.box)


def verify(a, b, *, face_a=None, face_b=None) -> Verification:
    """Whether the faces of two images are the same person. Each image must hold one face, or
    face_a / face_b says which (an index into face_locations()' order, or a (top, right, bottom,
    left) box): a group photo is refused rather than compared by its largest face. Returns a
    Verification that unpacks as (same, distance)."""
    det, emb = _models()
    da, ba = _one_face(det, emb, a, face_a, "image a")
    db, bb = _one_face(det, emb, b, face_b, "image b")
    d = emb.distance(da, db)
    return Verification(d < emb.threshold, d, emb.threshold, ba, bb)


# ---- face_recognition's functions ------------------------------------------------------------------
# The names, arguments, shapes and box order of the face_recognition package, so its examples run
# with `import faceid as face_recognition`. Each takes any image load_image() takes. Side by side
# (docs/python.md): boxes are (top, right, bottom, left) here and Box(x, y, width, height) in the
# classes; encodings are 128 float64 as face_recognition's (face-api's descriptor, same 0.6
# Euclidean tolerance); "hog" and "cnn" both mean faceid's default detector.

_FR_MODELS = {"hog": "blazeface", "cnn": "blazeface"}


def _fr_detector(model: str, upsample: int) -> Detector:
    """This thread's detector for a face_recognition model name and upsample count: 0 looks at
    the whole image only; 1 (face_recognition's default) also scans large images in tiles for
    faces down to 24 px; each further step halves that (to 8 px)."""
    if not isinstance(upsample, (int, np.integer)) or upsample < 0:
        raise Error(f"number_of_times_to_upsample is 0 or more, not {upsample!r}", 1)
    kind = _FR_MODELS.get(model, model)
    tile = 0 if upsample == 0 else max(8, 24 >> (int(upsample) - 1))
    cache = getattr(_default, "fr", None)
    if cache is None:
        cache = _default.fr = {}
    key = (kind, tile)
    if key not in cache:
        cache[key] = Detector(kind, tile_face=tile)
    return cache[key]


def _detection_from_css(location) -> _Detection:
    b = Box.from_css(location)
    d = _Detection()
    d.box = _Box(b.x, b.y, b.width, b.height)
    d.score = 1.0
    d.n_keypoints = 0
    return d


def _trimmed_css(b: _Box, width: int, height: int) -> Tuple[int, int, int, int]:
    top, right, bottom, left = _box(b).css
    return max(top, 0), min(right, width), min(bottom, height), max(left, 0)


def _iou(a: _Box, b: _Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.width, b.x + b.width), min(a.y + a.height, b.y + b.height)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def _faces_in(im: _Image, locations, model: str = "hog", upsample: int = 1) -> List[_Detection]:
    """The detections to describe: those found, or one per known location. A known location that
    is a detector's box (face_locations() gave it) gets that detection back, with its keypoints:
    they seed the landmarks, so face_encodings(img, face_locations(img)) == face_encodings(img)."""
    found = _fr_detector(model, upsample)._run(im)
    if locations is None:
        return found
    out = []
    for loc in locations:
        d = _detection_from_css(loc)
        best = max(found, key=lambda f: _iou(f.box, d.box), default=None)
        out.append(best if best is not None and _iou(best.box, d.box) >= 0.7 else d)
    return out


def face_locations(img, number_of_times_to_upsample: int = 1, model: str = "hog") -> List[Tuple[int, int, int, int]]:
    """Every face's box as (top, right, bottom, left), best first, trimmed to the image.
    model: "hog" or "cnn" (both faceid's default detector, BlazeFace), or a faceid detector name
    ("blazeface", "ssd", "tiny", "haar")."""
    im = _Image(img)
    w, h = _image_width(im.ptr), _image_height(im.ptr)
    return [_trimmed_css(d.box, w, h) for d in _fr_detector(model, number_of_times_to_upsample)._run(im)]


def batch_face_locations(images, number_of_times_to_upsample: int = 1, batch_size: int = 128):
    """face_locations() of each image (batch_size is accepted for face_recognition's signature)."""
    return [face_locations(im, number_of_times_to_upsample) for im in images]


def face_encodings(face_image, known_face_locations=None, num_jitters: int = 1, model: str = "small") -> List[np.ndarray]:
    """A 128-d encoding (float64) of each face: those found, or those at known_face_locations
    ((top, right, bottom, left) each). num_jitters > 1 averages the encodings of the face placed
    from slightly moved and scaled boxes (seeded: the same answer every run). `model` names
    face_recognition's landmark model; faceid always aligns on 68 landmarks."""
    if not isinstance(num_jitters, (int, np.integer)) or num_jitters < 1:
        raise Error(f"num_jitters is 1 or more, not {num_jitters!r}", 1)
    _, emb = _models()
    im = _Image(face_image)
    out = []
    rng = np.random.default_rng(0)
    for d in _faces_in(im, known_face_locations):
        acc = emb._describe(im, d).astype(np.float64)
        for _ in range(1, int(num_jitters)):
            j = _Detection()
            j.score, j.n_keypoints = d.score, 0
            dx, dy, sc = rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(0.95, 1.05)
            w, h = d.box.width * sc, d.box.height * sc
            j.box = _Box(d.box.x + d.box.width * dx + (d.box.width - w) / 2,
                         d.box.y + d.box.height * dy + (d.box.height - h) / 2, w, h)
            acc += emb._describe(im, j)
        out.append(acc / num_jitters)
    return out


# face_recognition's groups of the 68 points (iBUG 300-W order, as face-api's landmark net gives)
_LANDMARK_GROUPS = {
    "chin": list(range(0, 17)), "left_eyebrow": list(range(17, 22)), "right_eyebrow": list(range(22, 27)),
    "nose_bridge": list(range(27, 31)), "nose_tip": list(range(31, 36)), "left_eye": list(range(36, 42)),
    "right_eye": list(range(42, 48)), "top_lip": list(range(48, 55)) + [64, 63, 62, 61, 60],
    "bottom_lip": list(range(54, 60)) + [48, 60, 67, 66, 65, 64]}
# "small": dlib's 5 points, taken from the 68
_LANDMARK_GROUPS_SMALL = {"nose_tip": [33], "left_eye": [36, 39], "right_eye": [45, 42]}


def face_landmarks(face_image, face_locations=None, model: str = "large") -> List[dict]:
    """Each face's landmarks as face_recognition groups them: {"chin": [(x, y), ...], ...}
    (model "large": 68 points in 9 groups; "small": 5 points in 3)."""
    if model not in ("large", "small"):
        raise Error(f"model is 'large' or 'small', not {model!r}", 1)
    groups = _LANDMARK_GROUPS if model == "large" else _LANDMARK_GROUPS_SMALL
    _, emb = _models()
    im = _Image(face_image)
    out = []
    for d in _faces_in(im, face_locations):
        pts = emb._landmarks(im, d)
        out.append({g: [(int(round(pts[i][0])), int(round(pts[i][1]))) for i in idx] for g, idx in groups.items()})
    return out


def face_distance(face_encodings, face_to_compare) -> np.ndarray:
    """The distance of each encoding to face_to_compare (Euclidean for the default model), as a
    float64 array; empty for no encodings."""
    _, emb = _models()
    if len(face_encodings) == 0:
        return np.empty(0)
    return np.array([emb.distance(e, face_to_compare) for e in face_encodings], dtype=np.float64)


def compare_faces(known_face_encodings, face_encoding_to_check, tolerance: float = 0.6) -> List[bool]:
    """For each known encoding, whether it is the same person as face_encoding_to_check: distance
    at most `tolerance` (0.6, face_recognition's and face-api's, is also faceid's calibrated
    threshold for the default model; Embedder().threshold says so for others)."""
    return [bool(d <= tolerance) for d in face_distance(known_face_encodings, face_encoding_to_check)]


# ---- the gallery --------------------------------------------------------------------------------

class Gallery(_Handle):
    """Known people in an SQLite file (created when missing) or a PostgreSQL database shared by many
    nodes ("postgresql://user@host/db"), for enrolling and identifying.
    Use as a context manager, or call close()."""
    _free = _gal_close

    def __init__(self, path: str, *, detector: Optional[Detector] = None, embedder: Optional[Embedder] = None,
                 threshold: Optional[float] = None):
        if detector is None or embedder is None:
            d, e = _models()
            detector, embedder = detector or d, embedder or e
        self.detector, self.embedder, self.path = detector, embedder, path
        p = _gal_defaults()
        self._model = embedder.model_id.encode()
        p.model, p.dim = self._model, embedder.dim
        st = ctypes.c_int(0)
        self._ptr = _gal_open(_path(path), ctypes.byref(p), ctypes.byref(st))
        if not self._ptr:
            _fail(st.value)
        self._threshold = threshold
        self._matcher = None

    def _match_with(self):
        self._live()
        if self._matcher is None:
            params = None
            if self._threshold is not None:
                mp = (ctypes.c_float * 2)(self._threshold, 0.0)  # fid_matcher_params {threshold, margin}
                params = ctypes.cast(mp, ctypes.c_void_p)
            st = ctypes.c_int(0)
            self._matcher = _matcher_create(self._ptr, params, ctypes.byref(st))
            if not self._matcher:
                _fail(st.value)
        return self._matcher

    def _changed(self):
        if self._matcher:
            _matcher_free(self._matcher)
        self._matcher = None

    def enroll(self, name: str, images: Iterable, *, force: bool = False, strict: bool = False) -> int:
        """Adds the largest face of each image (any input load_image() takes) as a sample of
        `name`, through the photo quality gates (force: keep faces a gate refuses). Returns the
        samples added. Raises EnrollmentRefused, with each image's gate and measured value, when
        every image was refused, or with strict=True when any was (then nothing is added); Error
        when the name is not allowed."""
        encoded = _name(name)
        if isinstance(images, (str, bytes, os.PathLike, np.ndarray)) or _is_pil(images) or hasattr(images, "read"):
            images = [images]  # one image, not an iterable of characters or rows
        images = [_Image(image) for image in images]  # every image checked before anything is written
        # the gallery's lock, then the models' (always in this order: no two threads wait on each other)
        with self._lock, self.detector._lock, self.embedder._lock:
            return self._enroll(name, encoded, images, force, strict)

    def _enroll(self, name: str, encoded: bytes, images: List[_Image], force: bool, strict: bool) -> int:
        st = ctypes.c_int(0)
        e = _enr_begin(self.detector._live(), self.embedder._live(), None, ctypes.byref(st))
        if not e:
            _fail(st.value)
        try:
            reports = []
            for i, im in enumerate(images):  # held until the call returns: their destructors free the pixels
                r = _EnrollReport()
                label = im.name or f"image {i}"
                _check(_enr_photo(e, im.ptr, _path(label), int(force), ctypes.byref(r)))
                reports.append({"image": label, "verdict": _VERDICTS[r.verdict] if 0 <= r.verdict < len(_VERDICTS)
                                else "unknown", "gate": _text(r.gate or b""), "value": float(r.value),
                                "limit": float(r.limit), "faces": int(r.faces),
                                "kept": r.verdict == 0 or bool(r.forced)})
            n = _enr_count(e)
            refused = [r for r in reports if not r["kept"]]
            if n == 0 or (strict and refused):
                raise EnrollmentRefused(f"{name}: " + "; ".join(_refusal_text(r) for r in refused)
                                        + ("" if n == 0 else " (strict: nothing added)")
                                        + ("" if force else " (force=True keeps refused faces)"), reports)
            # each sample with the crop of its face, for review (samples(), sample_crop())
            _check(_gal_add_enrollment(self._live(), encoded, e))
            self._changed()
            return n
        finally:
            _enr_free(e)

    def match(self, descriptor: np.ndarray) -> Match:
        """The nearest person to a descriptor, or "?" beyond the threshold."""
        d = _vector(descriptor, self.embedder.dim)
        m = _Match()
        with self._lock:
            _check(_matcher_match(self._match_with(), d.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                  ctypes.byref(m)))
        return Match(_text(m.name), bool(m.known), float(m.distance), float(m.threshold), _text(m.second),
                     float(m.margin))

    def identify(self, image: np.ndarray) -> List[Face]:
        """Every face in an image, named or "?"."""
        im = _Image(image)
        out = []
        for d in self.detector._run(im):
            desc = self.embedder._describe(im, d)
            m = self.match(desc)
            out.append(Face(_box(d.box), float(d.score), m.name, m.distance if m.known else None, desc))
        return out

    def people(self) -> dict:
        """{name: number of samples}, sorted by name."""
        st = ctypes.c_int(0)
        with self._lock:
            while True:  # another process may add people between counting and listing
                n = _gal_people(self._live(), None, 0, ctypes.byref(st))
                if n < 0:
                    _fail(st.value)
                arr = (_PersonInfo * max(n, 1))()
                got = _gal_people(self._ptr, arr, n, ctypes.byref(st))
                if got < 0:
                    _fail(st.value)
                if got <= n:
                    return {_text(p.name): p.samples for p in arr[:got]}

    def remove(self, name: str):
        encoded = _name(name)
        with self._lock:
            _check(_gal_remove(self._live(), encoded))
            self._changed()

    def rename(self, old: str, new: str):
        a, b = _name(old), _name(new, "new name")
        with self._lock:
            _check(_gal_rename(self._live(), a, b))
            self._changed()

    # ---- review and correct (each change is one transaction every process and node sees)

    def samples(self, name: str) -> List[dict]:
        """`name`'s samples, oldest first: {id, created (Unix s), quality (None: unknown), source,
        crop (bool)}. Raises Error for nobody of that name."""
        encoded = _name(name)
        st = ctypes.c_int(0)
        with self._lock:
            while True:  # the person may gain samples between counting and listing
                n = _gal_sample_list(self._live(), encoded, None, 0, ctypes.byref(st))
                if n < 0:
                    _fail(st.value)
                arr = (_SampleInfo * max(n, 1))()
                got = _gal_sample_list(self._ptr, encoded, arr, n, ctypes.byref(st))
                if got < 0:
                    _fail(st.value)
                if got <= n:
                    break
            if got == 0 and name not in self.people():
                raise Error(f"no person named '{name}'", 11)
        return [{"id": int(x.id), "created": float(x.created), "quality": None if x.quality != x.quality
                 else float(x.quality), "source": _text(x.source), "crop": bool(x.has_crop)} for x in arr[:got]]

    def sample_crop(self, name: str, sample_id: int) -> bytes:
        """The JPEG of the face sample `sample_id` was made from."""
        encoded = _name(name)
        buf, size = ctypes.POINTER(ctypes.c_uint8)(), ctypes.c_size_t(0)
        with self._lock:
            _check(_gal_sample_crop(self._live(), encoded, int(sample_id), ctypes.byref(buf), ctypes.byref(size)))
        try:
            return ctypes.string_at(buf, size.value)
        finally:
            _free(ctypes.cast(buf, ctypes.c_void_p))

    def remove_sample(self, name: str, sample_id: int):
        encoded = _name(name)
        with self._lock:
            _check(_gal_sample_remove(self._live(), encoded, int(sample_id)))
            self._changed()

    def move_sample(self, name: str, sample_id: int, to: str):
        a, b = _name(name), _name(to, "name to move to")
        with self._lock:
            _check(_gal_sample_move(self._live(), a, int(sample_id), b))
            self._changed()

    def merge(self, name: str, into: str):
        """Everything of `name` to `into` (created when new); `name` goes."""
        a, b = _name(name), _name(into, "name to merge into")
        with self._lock:
            _check(_gal_merge(self._live(), a, b))
            self._changed()

    def reject(self, name: str, descriptor: np.ndarray, source: str = "python"):
        """Not this person: `descriptor` is kept as a counter-example of `name`, so that face is
        no longer named so (match() says "?")."""
        encoded = _name(name)
        d = _vector(descriptor, self.embedder.dim)
        with self._lock:
            _check(_gal_reject(self._live(), encoded, d.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                               source.encode("utf-8", "replace")))
            self._changed()

    _matcher = None

    def close(self):
        with self._lock:
            self._changed()
            super().close()


# ---- live -----------------------------------------------------------------------------------------

_pl_defaults = _fn("fid_pipeline_default_params", _PipelineParams)


_event_json = _fn("fid_pipeline_event_json", ctypes.c_void_p, ctypes.POINTER(_PipelineEvent))


def _event(e: _PipelineEvent) -> dict:
    """An event as the CLI writes it: the library makes the line (fid_pipeline_event_json)."""
    text = _event_json(ctypes.byref(e))
    if not text:
        raise Error("out of memory describing an event", 5)
    try:
        return json.loads(ctypes.string_at(text).decode("utf-8"))
    finally:
        _free(text)


def live(source: str, gallery: str, *, name: str = "camera") -> Iterator[Frame]:
    """Follows a camera, stream or file (anything `faceid live --source` takes) and yields each
    processed frame with its tracks (named or "?") and events. Events are dicts with the fields
    of the CLI's events (`faceid live --events`): schema, event, source (`name`), time (UTC, ISO
    8601), stream_time, frame, track, box [x, y, width, height], score, name and, for a known
    person, distance. The gallery (a path) is watched: people enrolled meanwhile are named from
    their next identification. Stop by leaving the loop."""
    encoded_name = _name(name, "source name")
    emb = Embedder(refine_passes=1)  # FID_VIDEO_REFINE_PASSES: a track's mean pools its frames
    p = _gal_defaults()
    model = emb.model_id.encode()
    p.model, p.dim = model, emb.dim
    st = ctypes.c_int(0)
    g = _gal_open(_path(gallery), ctypes.byref(p), ctypes.byref(st))
    if not g:
        _fail(st.value)
    idf = pl = None
    try:
        idf = _idf_create(emb._ptr, g, None, ctypes.byref(st))
        if not idf:
            _fail(st.value)
        pp = _pl_defaults()
        pp.name = encoded_name
        pl = _pl_create(idf, ctypes.byref(pp), ctypes.byref(st))
        if not pl:
            _fail(st.value)
        _check(_pl_open(pl, _path(source), None))
        r = _PipelineResult()
        while True:
            s = _pl_next(pl, 1.0, ctypes.byref(r))
            if s == _AGAIN:
                continue
            if s not in (_OK, _END):
                _fail(s)
            tracks = [Track(t.id, _box(t.box), float(t.score), _text(t.name),
                            None if _text(t.name) == "?" or not math.isfinite(t.distance) else float(t.distance))
                      for t in r.tracks[:r.n_tracks]]
            events = [_event(e) for e in r.events[:r.n_events]]
            if s == _END:
                if events:
                    yield Frame(r.frame, r.seconds, np.zeros((0, 0, 3), np.uint8), [], events)
                return
            yield Frame(r.frame, r.seconds, _to_array(r.image), tracks, events)
    finally:
        if pl:
            _pl_stop(pl)
            _pl_free(pl)
        if idf:
            _idf_free(idf)
        _gal_close(g)
        emb.close()
