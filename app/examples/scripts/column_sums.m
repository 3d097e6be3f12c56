% Column sums of a numeric CSV file with a header row.
% Usage: octave-cli column_sums.m INPUT.csv OUTPUT.csv
args = argv();
data = dlmread(args{1}, ",", 1, 0);
out = fopen(args{2}, "w");
fprintf(out, "column,sum\n");
sums = sum(data, 1);
for i = 1:numel(sums)
  fprintf(out, "%d,%.10g\n", i, sums(i));
end
fclose(out);
