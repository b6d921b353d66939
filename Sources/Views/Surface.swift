public enum ViewsPlaceholder {}
