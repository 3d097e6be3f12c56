# Column means of a numeric CSV file with a header row.
# Usage: Rscript column_means.R INPUT.csv OUTPUT.csv
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
means <- data.frame(column = names(data), mean = colMeans(data, na.rm = TRUE))
write.csv(means, args[2], row.names = FALSE)
