"""The training loop: ``train(config)`` (trainer.py) and what one step needs: the model and its
starting weights (model_setup), batches through any model (batches), the loss as one module with
the model (loss_step), the data order and the augmentation seeded for exact resume (sampling,
augment), the optimiser and schedule (optim), reduced precision (precision) and DDP
(distributed)."""
