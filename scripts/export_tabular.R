# Writes the four real binary-classification tables used by scripts/gbrt_study.sh as
# numeric CSV files: header line, first column "label" (0/1), then the features. Factor,
# character and logical columns become integer codes 1..K (level order); the rest numeric.
# Missing values are written as NA (movielens has 7, in `year`).
#
# usage: Rscript scripts/export_tabular.R OUTDIR
# needs: r-base-core r-cran-aer r-cran-dslabs r-cran-kernlab r-cran-mlbench (Debian)

argv <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(argv) >= 1) argv[[1]] else "."
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

load_dataset <- function(pkg, name) {
  env <- new.env()
  utils::data(list = name, package = pkg, envir = env)
  get(name, envir = env)
}

as_codes <- function(frame) {
  cols <- lapply(frame, function(col) {
    if (is.factor(col) || is.character(col) || is.logical(col)) {
      as.integer(factor(col))
    } else {
      as.numeric(col)
    }
  })
  as.data.frame(cols, check.names = TRUE)
}

export_table <- function(file, label, features) {
  stopifnot(all(label %in% c(0L, 1L)), nrow(features) == length(label))
  table <- data.frame(label = as.integer(label), as_codes(features))
  # Missing values stay NA (written as "NA"; hypersimplex reads them as missing).
  n_na <- sum(is.na(table))
  path <- file.path(outdir, paste0(file, ".csv"))
  utils::write.csv(table, path, row.names = FALSE, quote = FALSE)
  cat(sprintf("%-14s %7d rows  %3d features  %5.2f%% positive  %d NA  -> %s\n", file,
              nrow(table), ncol(table) - 1L, 100 * mean(label), n_na, path))
}

# AER::Fertility (1980 US census sample): does the mother have more than two children?
fert <- load_dataset("AER", "Fertility")
export_table("fertility", as.integer(fert$morekids == "yes"),
             fert[, names(fert) != "morekids", drop = FALSE])

# dslabs::movielens (MovieLens 100k ratings): is the rating at least 4 stars?
# The title is dropped (one title per movieId).
ml <- load_dataset("dslabs", "movielens")
export_table("movielens", as.integer(ml$rating >= 4),
             ml[, c("userId", "movieId", "year", "genres", "timestamp")])

# kernlab::ticdata (CoIL 2000 challenge, 9822 customers): caravan insurance holder?
tic <- load_dataset("kernlab", "ticdata")
export_table("ticdata", as.integer(tic$CARAVAN == "insurance"),
             tic[, names(tic) != "CARAVAN", drop = FALSE])

# mlbench::LetterRecognition (UCI letters): letters N..Z (1) against A..M (0).
let <- load_dataset("mlbench", "LetterRecognition")
export_table("letter_am_nz", as.integer(as.character(let$lettr) >= "N"),
             let[, names(let) != "lettr", drop = FALSE])
