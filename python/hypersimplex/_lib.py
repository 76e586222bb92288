"""Thin ctypes layer: finds libhypersimplex and declares every exported C function.

Nothing here is Pythonic on purpose: the functions keep their C names, argument order and
return codes. The NumPy layer (hypersimplex/__init__.py) and the PyTorch layer
(hypersimplex/torch.py) are built on top of it.

Where the shared library is looked for, in this order (the first hit wins):
  1. the environment variable HYPERSIMPLEX_LIBRARY: the full path of the library file
     (an error if it is set but cannot be loaded; there is no silent fallback);
  2. a copy packaged next to this module (hypersimplex/libhypersimplex.so*), which
     `pip install ./python` puts there when it finds a built library;
  3. the CMake build trees of the source checkout this module lives in
     (<repo>/build/ first, then <repo>/build*/ newest first);
  4. the system loader: ctypes.util.find_library("hypersimplex"), then
     "libhypersimplex.so.0" (after `cmake --install` and `ldconfig`).
"""

import ctypes
import ctypes.util
import glob
import os

__all__ = ["lib", "library_path", "missing", "HsProj", "HsLossOpts", "ENV_VAR"]

ENV_VAR = "HYPERSIMPLEX_LIBRARY"
_SONAME = "libhypersimplex.so.0"

c_double_p = ctypes.POINTER(ctypes.c_double)
c_float_p = ctypes.POINTER(ctypes.c_float)
c_size_t_p = ctypes.POINTER(ctypes.c_size_t)
c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_int_p = ctypes.POINTER(ctypes.c_int)


class HsProj(ctypes.Structure):
    """struct hs_proj (include/hypersimplex.h)."""
    _fields_ = [
        ("rows", ctypes.c_size_t),
        ("n", ctypes.c_size_t),
        ("row_stride", ctypes.c_ssize_t),   # ptrdiff_t
        ("elem_stride", ctypes.c_ssize_t),  # ptrdiff_t
        ("k", ctypes.c_double),
        ("k_rows", c_double_p),
        ("tau", ctypes.c_double),
        ("tau_rows", c_double_p),
        ("reg", ctypes.c_int),              # hs_regularization
        ("solver", ctypes.c_int),           # hs_solver
        ("threads", ctypes.c_int),
    ]


class HsLossOpts(ctypes.Structure):
    """struct hs_loss_opts (include/hypersimplex/loss.h)."""
    _fields_ = [
        ("kind", ctypes.c_int),             # hs_loss_kind
        ("tau", ctypes.c_double),
        ("tau_class", c_double_p),
        ("k_policy", ctypes.c_int),         # hs_k_policy
        ("k_fraction", ctypes.c_double),
        ("class_prior", c_double_p),
        ("reg", ctypes.c_int),              # hs_regularization
        ("sum_reduction", ctypes.c_int),
        ("threads", ctypes.c_int),
    ]


def _candidates():
    """Yields (description, path-or-name) in search order, after the environment variable."""
    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "libhypersimplex.so*"))):
        yield "packaged copy", path
    repo = os.path.dirname(os.path.dirname(here))
    if os.path.isfile(os.path.join(repo, "include", "hypersimplex.h")):
        first = os.path.join(repo, "build", "libhypersimplex.so")
        if os.path.isfile(first):
            yield "CMake build tree", first
        others = [p for p in glob.glob(os.path.join(repo, "build*", "libhypersimplex.so"))
                  if os.path.abspath(p) != first and os.path.isfile(p)]
        others.sort(key=os.path.getmtime, reverse=True)
        for path in others:
            yield "CMake build tree", path
    found = ctypes.util.find_library("hypersimplex")
    if found:
        yield "system loader", found
    yield "system loader", _SONAME


def _load():
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as e:
            raise OSError(f"{ENV_VAR}={env!r} could not be loaded: {e}") from e
    tried = []
    for what, path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"  {what}: {path}: {e}")
    raise OSError(
        "libhypersimplex not found. Build it with CMake (cmake -S . -B build && cmake --build build),"
        f" or set {ENV_VAR} to the full path of libhypersimplex.so. Tried:\n" + "\n".join(tried))


missing = []  # exported functions this library file lacks (a build without some layer)


def _declare(lib, name, restype, argtypes, required=True):
    try:
        fn = getattr(lib, name)
    except AttributeError:
        if required:
            raise OSError(f"{library_path}: symbol {name} not found; is this libhypersimplex?") from None
        missing.append(name)
        return None
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


lib, library_path = _load()

_status = ctypes.c_int  # hs_status
_proj_p = ctypes.POINTER(HsProj)
_opts_p = ctypes.POINTER(HsLossOpts)

# --- core: include/hypersimplex.h ---------------------------------------------------------
_declare(lib, "hs_status_string", ctypes.c_char_p, [_status])
_declare(lib, "hs_last_error", ctypes.c_char_p, [])
_declare(lib, "hs_version", ctypes.c_char_p, [])
_declare(lib, "hs_proj_make", HsProj, [ctypes.c_size_t, ctypes.c_size_t, ctypes.c_double, ctypes.c_double])
_declare(lib, "hs_proj_check", ctypes.c_char_p, [_proj_p])
_declare(lib, "hs_regularization_parse", _status, [c_int_p, ctypes.c_char_p], required=False)
_declare(lib, "hs_regularization_name", ctypes.c_char_p, [ctypes.c_int], required=False)
_declare(lib, "hs_solver_parse", _status, [c_int_p, ctypes.c_char_p], required=False)
_declare(lib, "hs_solver_name", ctypes.c_char_p, [ctypes.c_int], required=False)
_declare(lib, "hs_project_d", _status, [c_double_p, c_double_p, c_size_t_p, c_double_p, _proj_p])
_declare(lib, "hs_project_f", _status, [c_float_p, c_double_p, c_size_t_p, c_float_p, _proj_p])
_declare(lib, "hs_project_vjp_d", _status, [c_double_p, c_double_p, c_double_p, _proj_p])
_declare(lib, "hs_project_vjp_f", _status, [c_float_p, c_float_p, c_float_p, _proj_p])
_declare(lib, "hs_project_jvp_d", _status, [c_double_p, c_double_p, c_double_p, _proj_p])
_declare(lib, "hs_project_jvp_f", _status, [c_float_p, c_float_p, c_float_p, _proj_p])

# --- losses: include/hypersimplex/loss.h --------------------------------------------------
# Optional, so that the operator stays usable with a library built without the loss layer;
# the loss functions of the Python layers then raise an error naming the missing symbol.
_declare(lib, "hs_loss_opts_default", HsLossOpts, [ctypes.c_int], required=False)
_declare(lib, "hs_loss_opts_check", ctypes.c_char_p, [_opts_p], required=False)
_declare(lib, "hs_loss_multiclass_f", _status,
         [c_double_p, c_float_p, c_float_p, c_int32_p, ctypes.c_size_t, ctypes.c_size_t, _opts_p],
         required=False)
_declare(lib, "hs_loss_multiclass_d", _status,
         [c_double_p, c_double_p, c_double_p, c_int32_p, ctypes.c_size_t, ctypes.c_size_t, _opts_p],
         required=False)
_declare(lib, "hs_loss_multiclass_ex_f", _status,
         [c_double_p, c_float_p, c_double_p, c_float_p, c_int32_p, ctypes.c_size_t, ctypes.c_size_t,
          _opts_p], required=False)
_declare(lib, "hs_loss_multiclass_ex_d", _status,
         [c_double_p, c_double_p, c_double_p, c_double_p, c_int32_p, ctypes.c_size_t, ctypes.c_size_t,
          _opts_p], required=False)
_declare(lib, "hs_loss_theta_update", _status,
         [c_double_p, c_double_p, ctypes.c_size_t, ctypes.c_double], required=False)
_declare(lib, "hs_loss_predict_f", _status,
         [c_int32_p, c_float_p, c_double_p, ctypes.c_size_t, ctypes.c_size_t, _opts_p], required=False)
_declare(lib, "hs_loss_predict_d", _status,
         [c_int32_p, c_double_p, c_double_p, ctypes.c_size_t, ctypes.c_size_t, _opts_p], required=False)
_declare(lib, "hs_loss_binary_hs_f", _status,
         [c_double_p, c_float_p, c_float_p, c_float_p, ctypes.c_size_t, _opts_p], required=False)
_declare(lib, "hs_loss_binary_hs_d", _status,
         [c_double_p, c_double_p, c_double_p, c_double_p, ctypes.c_size_t, _opts_p], required=False)
_declare(lib, "hs_loss_class_k", _status,
         [c_double_p, c_int32_p, ctypes.c_size_t, ctypes.c_size_t, _opts_p], required=False)
_declare(lib, "hs_class_prior_from_labels", _status,
         [c_double_p, c_int32_p, ctypes.c_size_t, ctypes.c_size_t], required=False)
_declare(lib, "hs_loss_kind_parse", _status, [c_int_p, ctypes.c_char_p], required=False)
_declare(lib, "hs_loss_kind_name", ctypes.c_char_p, [ctypes.c_int], required=False)
_declare(lib, "hs_k_policy_parse", _status, [c_int_p, c_double_p, ctypes.c_char_p], required=False)
_declare(lib, "hs_k_policy_name", ctypes.c_char_p, [ctypes.c_int], required=False)
