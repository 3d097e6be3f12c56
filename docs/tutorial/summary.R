# Count, mean and standard deviation of each numeric column of a CSV file.
# Usage: Rscript summary.R INPUT.csv OUTPUT.csv   (NA and empty cells are missing values)
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1], na.strings = c("NA", ""))
numbers <- data[sapply(data, is.numeric)]
summary <- data.frame(
  column = names(numbers),
  n = sapply(numbers, function(x) sum(!is.na(x))),
  mean = sapply(numbers, mean, na.rm = TRUE),
  sd = sapply(numbers, sd, na.rm = TRUE)
)
write.csv(summary, args[2], row.names = FALSE)
cat("summarised", nrow(data), "rows\n")
