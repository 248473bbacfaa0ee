pub mod hostile_op;
