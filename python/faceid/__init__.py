"""faceid for Python: face detection, descriptors, verification, galleries and live identification,
backed by libfaceid (ctypes; images are numpy arrays, H x W x 3 uint8 RGB).

    import faceid
    with faceid.Gallery("people.db") as g:
        g.enroll("alice", [faceid.load_image("alice.jpg")])
        for face in g.identify(faceid.load_image("group.jpg")):
            print(face.name, face.box, face.distance)

Errors are faceid.Error, carrying the library's one-line message and status. The library is
found through FID_LIBRARY (a path), else as the system's libfaceid.so.0, else in a source
checkout's build/ directory.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import math
import os
import threading
from dataclasses import dataclass
from typing import Iterator, Iterable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Error", "Box", "Detection", "Face", "Match", "Track", "Frame", "Detector", "Embedder", "Gallery",
           "load_image", "verify", "live", "version", "build_features", "model_dir"]


def _load() -> ctypes.CDLL:
    # libgomp reads its spin policy once, when it loads: bounded spinning, as the CLI runs it
    # (fid_bounded_spin_wait), unless the user chose otherwise
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    tried = []
    env = os.environ.get("FID_LIBRARY")
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [env] if env else []
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


# ---- the C types this binding passes by value or reads (mirrors of include/faceid.h) ----------

class _Box(ctypes.Structure):
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float), ("width", ctypes.c_float), ("height", ctypes.c_float)]


class _Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float)]


class _DetectorParams(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("score_threshold", ctypes.c_float), ("iou_threshold", ctypes.c_float),
                ("max_faces", ctypes.c_int), ("min_face_size", ctypes.c_int), ("input_size", ctypes.c_int),
                ("threads", ctypes.c_int), ("precision", ctypes.c_int), ("tile_face", ctypes.c_int)]


class _Detection(ctypes.Structure):
    _fields_ = [("box", _Box), ("score", ctypes.c_float), ("n_keypoints", ctypes.c_int), ("keypoints", _Point * 6)]


class _EmbedderParams(ctypes.Structure):
    _fields_ = [("profile", ctypes.c_char_p), ("threads", ctypes.c_int), ("precision", ctypes.c_int),
                ("model_path", ctypes.c_char_p),
                ("mean", ctypes.c_float * 3), ("scale", ctypes.c_float), ("bgr", ctypes.c_int),
                ("alignment", ctypes.c_int), ("refine_passes", ctypes.c_int)]


class _Face(ctypes.Structure):
    _fields_ = [("box", _Box), ("score", ctypes.c_float), ("landmarks", _Point * 68), ("aligned", _Box),
                ("crop", _Box), ("unsettled", ctypes.c_float)]


class _GalleryParams(ctypes.Structure):
    _fields_ = [("model", ctypes.c_char_p), ("dim", ctypes.c_int), ("readonly", ctypes.c_int)]


class _PersonInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 208), ("samples", ctypes.c_int)]


class _Match(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 208), ("known", ctypes.c_int), ("distance", ctypes.c_float),
                ("candidate", ctypes.c_char * 208), ("second", ctypes.c_char * 208),
                ("second_distance", ctypes.c_float), ("margin", ctypes.c_float), ("threshold", ctypes.c_float),
                ("rejected", ctypes.c_int)]


class _SampleInfo(ctypes.Structure):
    _fields_ = [("id", ctypes.c_int64), ("created", ctypes.c_double), ("quality", ctypes.c_float),
                ("source", ctypes.c_char * 256), ("has_crop", ctypes.c_int)]


class _TrackInfo(ctypes.Structure):
    _fields_ = [("id", ctypes.c_int), ("box", _Box), ("score", ctypes.c_float), ("name", ctypes.c_char * 208),
                ("distance", ctypes.c_float), ("first_seen", ctypes.c_int64), ("last_seen", ctypes.c_int64),
                ("hits", ctypes.c_int)]


class _PipelineEvent(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("frame", ctypes.c_int64), ("seconds", ctypes.c_double),
                ("wall", ctypes.c_double), ("track", _TrackInfo), ("source", ctypes.c_char_p)]


class _PipelineResult(ctypes.Structure):
    _fields_ = [("image", ctypes.c_void_p), ("frame", ctypes.c_int64), ("seconds", ctypes.c_double),
                ("wall", ctypes.c_double), ("latency", ctypes.c_double), ("n_tracks", ctypes.c_int),
                ("tracks", ctypes.POINTER(_TrackInfo)), ("n_events", ctypes.c_int),
                ("events", ctypes.POINTER(_PipelineEvent))]


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
_EVENT_KINDS = ("appeared", "identified", "changed", "left")


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

class _Image:
    """A libfaceid image made from a numpy array (owned; freed when collected or closed)."""

    def __init__(self, array: np.ndarray):
        if not isinstance(array, np.ndarray):
            raise Error(f"an image is a numpy array (H x W x 3 uint8 RGB), not {type(array).__name__}", 1)
        a = np.ascontiguousarray(array)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
            raise Error(f"an image is an H x W x 3 uint8 RGB array, not {a.dtype} {a.shape}", 1)
        st = ctypes.c_int(0)
        self.ptr = _image_from_rgb(a.shape[1], a.shape[0], a.ctypes.data, a.strides[0], ctypes.byref(st))
        if not self.ptr:
            _fail(st.value)

    def __del__(self):
        if getattr(self, "ptr", None):
            _image_free(self.ptr)
            self.ptr = None


def _to_array(ptr) -> np.ndarray:
    w, h = _image_width(ptr), _image_height(ptr)
    return np.ctypeslib.as_array(_image_rgb(ptr), shape=(h, w, 3)).copy()


def load_image(path: str) -> np.ndarray:
    """A JPEG, PNG or WebP file (EXIF orientation applied) as an H x W x 3 uint8 RGB array."""
    st = ctypes.c_int(0)
    ptr = _image_load(_path(path), ctypes.byref(st))
    if not ptr:
        _fail(st.value)
    try:
        return _to_array(ptr)
    finally:
        _image_free(ptr)


# ---- results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float


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

    def _describe(self, image: _Image, d: _Detection) -> np.ndarray:
        out = np.empty(self.dim, dtype=np.float32)
        face = _Face()
        with self._lock:
            _check(_emb_describe(self._live(), image.ptr, ctypes.byref(d), ctypes.byref(face),
                                 out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))))
        return out

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


def _largest(det: Detector, emb: Embedder, image: np.ndarray) -> np.ndarray:
    im = _Image(image)
    ds = det._run(im)
    if not ds:
        raise Error("no face found", 0)
    best = max(ds, key=lambda d: d.box.width * d.box.height)
    return emb._describe(im, best)


def verify(a: np.ndarray, b: np.ndarray) -> Tuple[bool, float]:
    """Whether the largest faces of two images are the same person, and their distance."""
    det, emb = _models()
    d = emb.distance(_largest(det, emb, a), _largest(det, emb, b))
    return d < emb.threshold, d


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

    def enroll(self, name: str, images: Iterable[np.ndarray], *, force: bool = False) -> int:
        """Adds the largest face of each image as a sample of `name`, through the photo quality
        gates (force: keep faces a gate refuses). Returns the samples added; raises Error when
        every face was refused or the name is not allowed."""
        encoded = _name(name)
        images = [_Image(image) for image in images]  # every array checked before anything is written
        # the gallery's lock, then the models' (always in this order: no two threads wait on each other)
        with self._lock, self.detector._lock, self.embedder._lock:
            return self._enroll(name, encoded, images, force)

    def _enroll(self, name: str, encoded: bytes, images: List[_Image], force: bool) -> int:
        st = ctypes.c_int(0)
        e = _enr_begin(self.detector._live(), self.embedder._live(), None, ctypes.byref(st))
        if not e:
            _fail(st.value)
        try:
            for i, im in enumerate(images):  # held until the call returns: their destructors free the pixels
                _check(_enr_photo(e, im.ptr, f"image {i}".encode(), int(force), None))
            n = _enr_count(e)
            if n == 0:
                raise Error(f"{name}: no face passed the quality gates (force=True keeps them anyway)", 0)
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

def live(source: str, gallery: str, *, name: str = "camera") -> Iterator[Frame]:
    """Follows a camera, stream or file (anything `faceid live --source` takes) and yields each
    processed frame with its tracks (named or "?") and events. The gallery (a path) is watched:
    people enrolled meanwhile are named from their next identification. Stop by leaving the loop."""
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
        pl = _pl_create(idf, None, ctypes.byref(st))
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
            events = [{"event": _EVENT_KINDS[e.kind] if 0 <= e.kind < 4 else "unknown", "frame": e.frame,
                       "stream_time": e.seconds, "track": e.track.id, "name": _text(e.track.name),
                       "box": [e.track.box.x, e.track.box.y, e.track.box.width, e.track.box.height]}
                      for e in r.events[:r.n_events]]
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
