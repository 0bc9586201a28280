"""Two-stage DS-Codec training (paper §2.3): mirror training, then decoder training after the
architecture switch. Modules, one job each:

- schedule.py     linear warm-up then linear decay of the learning rate
- checkpoint.py   atomic, resumable checkpoints (models, optimisers, schedulers, step, RNG)
- stages.py       what each (system, stage) trains: model construction, the switch, freezing
- loop.py         the GAN training step, NaN/Inf guard, validation, periodic checkpoints
- distributed.py  device choice, bf16 autocast, DDP under torchrun, optional torch.compile
"""
