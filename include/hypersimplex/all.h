/*
 * hypersimplex/all.h: every layer's header. Each layer is a library of its own (link
 * hypersimplex_<layer>, or hypersimplex::<layer> with CMake; docs/build.md); an installation
 * holds the headers of the layers it was built with, and this header includes those.
 */
#ifndef HYPERSIMPLEX_ALL_H
#define HYPERSIMPLEX_ALL_H

#include "hypersimplex.h"

#ifdef __has_include
#if __has_include("hypersimplex/data.h")
#include "hypersimplex/data.h"
#endif
#if __has_include("hypersimplex/nn.h")
#include "hypersimplex/nn.h"
#endif
#if __has_include("hypersimplex/train.h")
#include "hypersimplex/train.h"
#endif
#if __has_include("hypersimplex/study.h")
#include "hypersimplex/study.h"
#endif
#if __has_include("hypersimplex/gbrt.h")
#include "hypersimplex/gbrt.h"
#endif
#if __has_include("hypersimplex/sweep.h")
#include "hypersimplex/sweep.h"
#endif
#else
#include "hypersimplex/data.h"
#include "hypersimplex/gbrt.h"
#include "hypersimplex/nn.h"
#include "hypersimplex/study.h"
#include "hypersimplex/sweep.h"
#include "hypersimplex/train.h"
#endif

#endif /* HYPERSIMPLEX_ALL_H */
