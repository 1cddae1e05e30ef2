"""Training of the learned models: one loop for every tracker and the thermal synthesiser.

* :mod:`.task` -- the :class:`~rgbt_tracking.train.task.TrainingTask` interface a model
  implements (build model / dataset / losses);
* :mod:`.loop` -- :func:`~rgbt_tracking.train.loop.run_training`: epochs, distributed data
  parallel training, checkpoints with exact resume, logs, plots, progress;
* :mod:`.registry` -- task names and ``config/training/<name>.yaml`` configurations;
* :mod:`.checkpoint`, :mod:`.distributed`, :mod:`.training_log` -- the loop's parts;
* :mod:`.sources`, :mod:`.frame_sampling`, :mod:`.cropping` -- building blocks of the
  tasks' datasets (training sequences, frame-set sampling, search-area crops).

Command line: ``rgbt-track train NAME --out DIR`` (``torchrun --nproc_per_node=N -m
rgbt_tracking.cli train ...`` for several processes).
"""
