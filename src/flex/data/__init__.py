"""Task data sets: splits by seed, training statistics, patches and the SR / FC examples.

`sr` (super-resolution): input = the coarse field of frame t, bicubic-upsampled to the fine grid;
target = the fine frame t; residual = target - input.
`fc` (forecasting): input = frames t-1 and t; target = frame t+1; residual = target - frame t.
"""
